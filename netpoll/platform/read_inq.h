// Whether a stream read learns, in the same syscall, the bytes it left queued (the "drained"
// shortcut of ReadOp, netpoll/net/internal/fd_posix.h): Linux's TCP_INQ, nothing elsewhere.
// Included by the POSIX net half only.
#pragma once

#if defined(__linux__)
#include "netpoll/platform/read_inq_linux.h"
#else
#include "netpoll/platform/read_inq_none.h"
#endif
