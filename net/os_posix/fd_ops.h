// The POSIX operations on an FD (readiness: syscall, EAGAIN, park). See net/fd_posix.h.
#pragma once

#include "net/fd_posix.h"
