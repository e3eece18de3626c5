// What POSIX itself answers; process_stats_linux.cc or process_stats_macos.cc has the rest.
#include <dirent.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "test/process_stats.h"
#include "test/process_stats_posix.h"

namespace netpoll::testing {

std::size_t raise_fd_limit() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  return static_cast<std::size_t>(rl.rlim_cur);
}

std::size_t open_fd_count() {
  std::size_t n = 0;
  if (DIR* d = opendir("/dev/fd")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') ++n;
    closedir(d);
    --n;  // the DIR's own descriptor
  }
  return n;
}

std::int64_t clock_ns(clockid_t cid) {
  timespec ts{};
  if (::clock_gettime(cid, &ts) != 0) return -1;
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t this_thread_cpu_ns() { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

}  // namespace netpoll::testing
