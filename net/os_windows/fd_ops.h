// The Windows operations on an FD (completion: overlapped call, park, packet). See
// net/fd_windows.h.
#pragma once

#include "net/fd_windows.h"
