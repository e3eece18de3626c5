// The socket vocabulary of the portable net layer, POSIX half: the OS headers, the native
// socket type and the shutdown directions. //net:os_posix exports this file as
// "net/os_socket.h"; //net:os_windows exports the Winsock half under the same name, so the
// choice of OS is made once, in net/BUILD, and never by #if in net/.
#pragma once

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>

namespace netpoll::net {

using NativeSocket = int;
inline constexpr NativeSocket kInvalidSocket = -1;
inline constexpr int kShutRead = SHUT_RD;
inline constexpr int kShutWrite = SHUT_WR;

}  // namespace netpoll::net
