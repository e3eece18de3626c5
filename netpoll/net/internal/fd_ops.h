// The OS half of the net layer's operations, chosen by OS like Go's fd_unix.go / fd_windows.go:
// readiness state machines on POSIX (fd_posix.h: syscall, EAGAIN, park), completion ones on
// Windows (fd_windows.h: overlapped call, park for the packet), and in the io_uring build
// either a ring operation (fd_uring.h: park for its completion) or the readiness one, by the
// Loop's backend (fd_either.h). All give the same names
// (ReadOp, WriteOp, AcceptOp, ...) to the portable netpoll/net/net.h. The only OS #if in net/;
// netpoll/net/BUILD compiles the matching .cc files.
#pragma once

#if defined(_WIN32)
#include "netpoll/net/internal/fd_windows.h"
#elif defined(NETPOLL_PLATFORM_URING)
#include "netpoll/net/internal/fd_either.h"
#else
#include "netpoll/net/internal/fd_posix.h"
namespace netpoll::net {
using readiness::AcceptOp;
using readiness::ConnectOp;
using readiness::ReadableOp;
using readiness::ReadOp;
using readiness::RecvFromOp;
using readiness::SendToOp;
using readiness::WriteOp;
using readiness::WritevOp;
}  // namespace netpoll::net
#endif
