// The OS socket vocabulary the portable net layer is written in: the OS's socket headers,
// `net::NativeSocket`, `kInvalidSocket` and the shutdown directions. The one OS choice for it.
#pragma once

#if defined(_WIN32)
#include "netpoll/platform/socket_windows.h"
#else
#include "netpoll/platform/socket_posix.h"
#endif
