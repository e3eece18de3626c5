#include "netpoll/platform/socket_posix.h"

#include <cstdio>

#if defined(__APPLE__) || defined(__FreeBSD__)
#include <sys/sysctl.h>
#endif

namespace netpoll::net {

namespace {
#if defined(__APPLE__) || defined(__FreeBSD__)
// An int sysctl (both are SYSCTL_INT / SYSCTL_UINT); 0 unless it reads back as one.
long int_sysctl(const char* name) noexcept {
  int v = 0;
  size_t len = sizeof v;
  return ::sysctlbyname(name, &v, &len, nullptr, 0) == 0 && len == sizeof v ? v : 0;
}
#endif
}  // namespace

long system_somaxconn() noexcept {
#if defined(__FreeBSD__)
  if (const long v = int_sysctl("kern.ipc.soacceptqueue"); v > 0) return v;
  return int_sysctl("kern.ipc.somaxconn");
#elif defined(__APPLE__)
  return int_sysctl("kern.ipc.somaxconn");
#else
  std::FILE* f = std::fopen("/proc/sys/net/core/somaxconn", "re");
  if (!f) return 0;
  long v = 0;
  const int got = std::fscanf(f, "%ld", &v);
  std::fclose(f);
  return got == 1 ? v : 0;
#endif
}

}  // namespace netpoll::net
