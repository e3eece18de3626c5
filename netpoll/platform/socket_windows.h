// The socket vocabulary of the portable net layer, Winsock half (netpoll/platform/socket.h
// chooses it; the POSIX half is socket_posix.h).
#pragma once

// clang-format off: winsock2.h must come before windows.h and the headers that use it.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <afunix.h>
#include <mswsock.h>
// clang-format on

namespace netpoll::net {

using NativeSocket = SOCKET;
inline constexpr NativeSocket kInvalidSocket = INVALID_SOCKET;
inline constexpr int kShutRead = SD_RECEIVE;
inline constexpr int kShutWrite = SD_SEND;
// Windows' AF_UNIX has no abstract namespace: '@' is an ordinary first character of a path.
inline constexpr bool kAbstractUnixNames = false;

}  // namespace netpoll::net
