// What the reliability tests measure of their own process, on every OS: open descriptors (or
// handles), resident memory, a thread's CPU time. One declaration here; process_stats_posix.cc
// with its OS half, or process_stats_windows.cc, is linked (test/BUILD chooses).
#pragma once

#include <cstddef>
#include <cstdint>
#include <thread>

namespace netpoll::testing {

// Raises the open-descriptor limit to its hard maximum; returns the limit now in force.
// Windows has no such limit per process: returns SIZE_MAX.
std::size_t raise_fd_limit();
// Descriptors open in this process (/dev/fd), or handles (GetProcessHandleCount); 0
// where the OS cannot tell (wine's GetProcessHandleCount always says 0).
std::size_t open_fd_count();
// Resident memory (/proc/self/statm, Mach task info; the working set on Windows); 0 if unknown.
std::size_t resident_bytes();
// CPU time the thread has used, user + system, in ns; -1 if unknown.
std::int64_t thread_cpu_ns(std::thread& t);
// The same for the calling thread.
std::int64_t this_thread_cpu_ns();
// Gives freed heap back to the OS where the allocator holds on to it (malloc_trim), so that
// resident memory compares like with like.
void release_free_memory();
// Binds the calling thread to one CPU; false where the OS cannot (macOS has no binding, only
// affinity hints; Windows' half is not written: no test there needs it).
bool pin_this_thread(int cpu);

}  // namespace netpoll::testing
