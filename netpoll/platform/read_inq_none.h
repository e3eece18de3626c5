// macOS / FreeBSD half of netpoll/platform/read_inq.h: these kernels have no way to say, in the
// read itself, how many bytes a stream read left queued (FIONREAD would be a second syscall, the
// price of reading until EAGAIN). So no stream read there takes the "drained" shortcut of ReadOp
// (netpoll/net/internal/fd_posix.h): each reads until the socket says EAGAIN, as Go does.
#pragma once

namespace netpoll::net::os {

inline constexpr bool kReadInq = false;
inline constexpr int kReadInqLevel = 0;
inline constexpr int kReadInqOption = 0;
inline constexpr int kReadInqMessage = 0;

}  // namespace netpoll::net::os
