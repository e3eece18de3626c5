// Name resolution against a DNS server that never answers (Trust issue item 12), with the real
// getaddrinfo: each case runs in a forked child inside its own network and mount namespaces,
// where loopback is up, a UDP socket on 127.0.0.1:53 reads queries and never replies, and a
// private /etc/resolv.conf (bind-mounted) points the resolver at it with "options timeout:5
// attempts:2", so an unbounded lookup would take about ten seconds. Linux only (namespaces);
// //netpoll/net:resolver_test covers the same waits on every OS through a lookup seam.
//
// The child reports plain values through a pipe and the parent asserts on them (doctest does
// not run in the child). The parent never resolves a name itself, so each child starts with a
// fresh resolver pool. Where namespaces cannot be had, the child says so and runs the same
// case over a lookup seam that blocks, and the parent says loudly that the real-DNS part did
// not run.
#include <doctest/doctest.h>

#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "netpoll/net/net.h"
#include "netpoll/net/internal/resolver.h"
#include "test/net_test_util.h"
#include "test/posix_fd.h"

using namespace netpoll;
using namespace netpoll::net;
using namespace std::chrono_literals;
using netpoll::testing::eventually;
using netpoll::testing::step_until;

namespace {

// A name no hosts file has, so the lookup goes to DNS (glibc treats ".test" like any name).
constexpr const char* kName = "never.answers.test";

struct Report {
  int namespaces = 0;    // 1: the real stand-in ran; 0: the blocking seam stood in
  char why[200] = {};    // why namespaces were not available
  int queries = 0;       // queries the stand-in (or the seam) received
  int deadline = 0;      // the Dial ended with Errc::deadline_exceeded
  int closed = 0;        // the Dial ended with Errc::closed
  int running = 0;       // lookups the pool reported still inside getaddrinfo afterwards
  int left = -1;         // Loop::shutdown's return
  int dials = 0, ended = 0, deadlines = 0;  // the many-dials case
  int extra_threads = -1;  // most threads seen above the baseline during it
  int peak_threads = -1;   // the pool's own count
};

std::atomic<int> g_queries{0};

// The DNS stand-in: reads and counts, never answers.
void stand_in(int fd) {
  char buf[512];
  for (;;) {
    if (::recv(fd, buf, sizeof buf, 0) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    g_queries.fetch_add(1);
  }
}

// The fallback when no namespace: a lookup that counts itself and blocks (bounded).
Addrs blocking_seam(std::string_view, std::string_view, bool) {
  g_queries.fetch_add(1);
  std::this_thread::sleep_for(30s);
  return AddrErrc::no_suitable_address;
}

bool fail(Report& r, const char* what) {
  std::snprintf(r.why, sizeof r.why, "%s: %s", what, std::strerror(errno));
  return false;
}

bool write_file(const char* path, const char* text) {
  const int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const auto n = static_cast<ssize_t>(std::strlen(text));
  const bool ok = ::write(fd, text, static_cast<std::size_t>(n)) == n;
  ::close(fd);
  return ok;
}

// In the child: a network namespace with loopback up, the stand-in on 127.0.0.1:53, and a
// resolv.conf naming it.
bool enter_namespace(Report& r) {
  if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
    // Not root: a user namespace grants the capabilities inside it.
    const uid_t uid = ::getuid();
    const gid_t gid = ::getgid();
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS) != 0) return fail(r, "unshare");
    char map[64];
    (void)write_file("/proc/self/setgroups", "deny");
    std::snprintf(map, sizeof map, "0 %u 1", static_cast<unsigned>(uid));
    if (!write_file("/proc/self/uid_map", map)) return fail(r, "uid_map");
    std::snprintf(map, sizeof map, "0 %u 1", static_cast<unsigned>(gid));
    if (!write_file("/proc/self/gid_map", map)) return fail(r, "gid_map");
  }
  // Our bind mount must not propagate back to the parent's mount namespace.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return fail(r, "mount private");
  const int s = netpoll::testing::socket_cloexec(AF_INET, SOCK_DGRAM, 0);
  if (s < 0) return fail(r, "socket");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(s, SIOCGIFFLAGS, &ifr) != 0) return fail(r, "SIOCGIFFLAGS lo");
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (::ioctl(s, SIOCSIFFLAGS, &ifr) != 0) return fail(r, "SIOCSIFFLAGS lo");
  sockaddr_in dns{};
  dns.sin_family = AF_INET;
  dns.sin_port = htons(53);
  dns.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(s, reinterpret_cast<sockaddr*>(&dns), sizeof dns) != 0) return fail(r, "bind 127.0.0.1:53");
  char conf[] = "/tmp/netpoll-resolv-XXXXXX";
  const int cf = ::mkstemp(conf);
  if (cf < 0) return fail(r, "mkstemp");
  ::close(cf);
  if (!write_file(conf, "nameserver 127.0.0.1\noptions timeout:5 attempts:2\n")) return fail(r, "write resolv.conf");
  const bool mounted = ::mount(conf, "/etc/resolv.conf", nullptr, MS_BIND, nullptr) == 0;
  ::unlink(conf);  // the mount keeps the file
  if (!mounted) return fail(r, "bind-mount /etc/resolv.conf");
  ::setenv("RES_OPTIONS", "timeout:5 attempts:2", 1);
  std::thread(stand_in, s).detach();  // lives until the child's _exit
  return true;
}

using Case = void (*)(Report&);

// Runs `c` in a forked child (in a namespace if possible) and returns what it reported.
Report run_child(Case c) {
  int p[2];
  REQUIRE(netpoll::testing::pipe_cloexec(p) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(p[0]);
    Report r;
    r.namespaces = enter_namespace(r) ? 1 : 0;
    if (!r.namespaces) ResolverPool::hooks().lookup = &blocking_seam;
    c(r);
    (void)!::write(p[1], &r, sizeof r);
    ::_exit(0);  // lookups may still be inside getaddrinfo: do not wait for them
  }
  ::close(p[1]);
  Report r;
  std::size_t got = 0;
  while (got < sizeof r) {
    const ssize_t n = ::read(p[0], reinterpret_cast<char*>(&r) + got, sizeof r - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE_MESSAGE(got == sizeof r, "the child died before reporting (status ", status, ")");
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  if (!r.namespaces)
    MESSAGE("NOT RUN against a real resolver: network namespaces are unavailable here (", r.why,
            "); this case ran over a blocking lookup seam instead");
  return r;
}

int thread_count() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
  }
  return n;
}

void dial_with_timeout(Report& r) {
  Loop loop;
  const std::string addr = std::string(kName) + ":80";
  Result<Conn> c = loop.block_on(Dial(loop, "tcp", addr, 200ms));
  r.deadline = !c && c.error() == Errc::deadline_exceeded;
  (void)eventually([] { return g_queries.load() > 0; });
  r.queries = g_queries.load();
  r.running = static_cast<int>(ResolverPool::instance().stats().running);
}

void shutdown_with_lookup_pending(Report& r) {
  Loop loop;
  std::error_code got;
  loop.spawn([](Loop& l, std::error_code& e) -> Task<void> {
    Result<Conn> c = co_await Dial(l, "tcp", std::string(kName) + ":80");  // no timeout
    e = c ? std::error_code() : c.error();
  }(loop, got));
  (void)step_until(loop, [] { return g_queries.load() > 0; });
  r.queries = g_queries.load();
  Result<std::size_t> left = loop.shutdown(Timeout::after(std::chrono::seconds(5)));
  r.left = left ? static_cast<int>(*left) : -1;  // -1: the shutdown itself was refused
  r.closed = got == Errc::closed;
  r.running = static_cast<int>(ResolverPool::instance().stats().running);
}

void many_dials(Report& r) {
  Loop loop;
  const int base = thread_count();
  int most = base;
  r.dials = 3000;
  for (int i = 0; i < r.dials; ++i)
    loop.spawn([](Loop& l, int n, Report& rep) -> Task<void> {
      Result<Conn> c = co_await Dial(l, "tcp", "n" + std::to_string(n) + "." + kName + ":80", 200ms);
      if (!c && c.error() == Errc::deadline_exceeded) ++rep.deadlines;
      ++rep.ended;
    }(loop, i, r));
  (void)step_until(
      loop,
      [&] {
        const int now = thread_count();
        if (now > most) most = now;
        return r.ended == r.dials;
      },
      20s);
  r.extra_threads = most - base;
  r.peak_threads = static_cast<int>(ResolverPool::instance().stats().peak_threads);
  r.queries = g_queries.load();
}

}  // namespace

TEST_SUITE("resolver against a DNS server that never answers") {

TEST_CASE("Dial with a 200 ms timeout returns deadline_exceeded while the lookup is still pending") {
  const Report r = run_child(&dial_with_timeout);
  CHECK(r.queries >= 1);  // the resolver did ask the stand-in (so the name went to DNS)
  CHECK(r.deadline == 1);
  CHECK(r.running == 1);  // the lookup itself still runs (getaddrinfo cannot be interrupted)
}

TEST_CASE("Loop::shutdown with a lookup pending returns 0 and the Dial ends with Errc::closed") {
  const Report r = run_child(&shutdown_with_lookup_pending);
  CHECK(r.queries >= 1);
  CHECK(r.left == 0);
  CHECK(r.closed == 1);
  CHECK(r.running == 1);
}

TEST_CASE("3,000 concurrent name Dials create at most the pool's bound of threads") {
  const Report r = run_child(&many_dials);
  CHECK(r.ended == r.dials);
  CHECK(r.deadlines == r.dials);
  CHECK(r.queries >= 1);
  CHECK(r.extra_threads >= 1);  // the pool did start threads...
  CHECK(r.extra_threads <= static_cast<int>(ResolverPool::kMaxThreads));  // ...and no more
  CHECK(r.peak_threads <= static_cast<int>(ResolverPool::kMaxThreads));
}

}  // TEST_SUITE
