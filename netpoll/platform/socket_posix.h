// The socket vocabulary of the portable net layer, POSIX half (netpoll/platform/socket.h
// chooses it): the OS headers, the native socket type and the shutdown directions.
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
