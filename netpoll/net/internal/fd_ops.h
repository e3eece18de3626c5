// The OS half of the net layer's operations, chosen by OS like Go's fd_unix.go / fd_windows.go:
// readiness state machines on POSIX (fd_posix.h: syscall, EAGAIN, park), completion ones on
// Windows (fd_windows.h: overlapped call, park for the packet) and on Linux's io_uring backend
// (fd_uring.h: ring operation, park for its completion). All give the same names
// (ReadOp, WriteOp, AcceptOp, ...) to the portable netpoll/net/net.h. The only OS #if in net/;
// netpoll/net/BUILD compiles the matching .cc files.
#pragma once

#if defined(_WIN32)
#include "netpoll/net/internal/fd_windows.h"
#elif defined(NETPOLL_PLATFORM_URING)
#include "netpoll/net/internal/fd_uring.h"
#else
#include "netpoll/net/internal/fd_posix.h"
#endif
