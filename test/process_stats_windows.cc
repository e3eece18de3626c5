#include <windows.h>
#include <psapi.h>
// Only the posix mingw-w64 runtime has it (winpthreads, under its std::thread); MSVC does not.
#if __has_include(<pthread.h>)
#include <pthread.h>
#endif

#include <cstdint>
#include <type_traits>

#include "test/process_stats.h"

namespace netpoll::testing {

std::size_t raise_fd_limit() { return SIZE_MAX; }

std::size_t open_fd_count() {
  DWORD n = 0;
  return GetProcessHandleCount(GetCurrentProcess(), &n) ? n : 0;
}

std::size_t resident_bytes() {
  PROCESS_MEMORY_COUNTERS pmc{};
  pmc.cb = sizeof pmc;
  return GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc) ? pmc.WorkingSetSize : 0;
}

namespace {
std::int64_t handle_cpu_ns(HANDLE h) {
  FILETIME created, exited, kernel, user;
  if (!h || !GetThreadTimes(h, &created, &exited, &kernel, &user)) return -1;
  auto ns = [](FILETIME f) {
    return ((static_cast<std::int64_t>(f.dwHighDateTime) << 32) | f.dwLowDateTime) * 100;
  };
  return ns(kernel) + ns(user);
}

// The thread's HANDLE from std::thread::native_handle(): MSVC's is the HANDLE itself; the posix
// mingw-w64 runtime's is a winpthreads pthread_t, which pthread_gethandle maps to it. The call
// depends on the template argument, so it is looked up only where that branch is instantiated.
template <class Native>
HANDLE win32_handle(Native h) {
  if constexpr (std::is_same_v<Native, HANDLE>)
    return h;
  else
    return pthread_gethandle(h);
}
}  // namespace

std::int64_t thread_cpu_ns(std::thread& t) {
  return handle_cpu_ns(win32_handle(t.native_handle()));
}

std::int64_t this_thread_cpu_ns() { return handle_cpu_ns(GetCurrentThread()); }

void release_free_memory() {}

bool pin_this_thread(int) { return false; }

}  // namespace netpoll::testing
