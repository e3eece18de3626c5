// The socket vocabulary of the portable net layer, Winsock half (netpoll/platform/socket.h
// chooses it; the POSIX half is socket_posix.h).
#pragma once

// clang-format off: winsock2.h must come before windows.h and the headers that use it.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <afunix.h>
#include <mswsock.h>
#include <mstcpip.h>
// clang-format on

namespace netpoll::net {

using NativeSocket = SOCKET;
inline constexpr NativeSocket kInvalidSocket = INVALID_SOCKET;
inline constexpr int kShutRead = SD_RECEIVE;
inline constexpr int kShutWrite = SD_SEND;
// Windows' AF_UNIX has no abstract namespace: '@' is an ordinary first character of a path.
inline constexpr bool kAbstractUnixNames = false;
// Windows has no SO_REUSEPORT. Its SO_REUSEADDR is not a substitute: it lets any later socket
// bind the same port and take over its traffic (SO_EXCLUSIVEADDRUSE exists to stop exactly
// that), so ListenConfig::reuse_port fails with operation_not_supported here instead.
inline constexpr int kReusePortOption = 0;
inline constexpr bool kReusePortSpreads = false;  // no SO_REUSEPORT at all
// Keep-alive timing goes through SIO_KEEPALIVE_VALS (every Windows version, and wine), not
// the TCP_KEEPIDLE / TCP_KEEPINTVL options that only Windows 10 1709 and later accept.
inline constexpr int kTcpKeepIdleOption = 0;
inline constexpr int kTcpKeepIntervalOption = 0;

}  // namespace netpoll::net
