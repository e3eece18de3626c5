// B5 (docs/benchmarks.md): 9,900 idle connections + 1 active. Each server of echo_servers.h (raw
// epoll, raw io_uring, netpoll's coroutine Loop, libuv, Asio's two builds) accepts and registers
// 9,900 loopback TCP connections
// that never send anything; then one more connection ping-pongs 5-byte messages as in B1
// (blocking client, client and server on CPU 0).
//
// Measured, not estimated:
//   * user-space bytes per idle connection: the growth of the server process's heap (the
//     benchmark's own for the in-process servers; an Asio server process answers for its own,
//     EchoServer::heap_bytes) (mallinfo2:
//     in-use chunks plus mmapped blocks, so malloc's own overhead is included) from before the
//     first idle connection arrives to when the server has accepted and registered them all,
//     divided by their number. That is everything each server keeps per connection: raw its
//     RawConn; libuv its uv_tcp_t and the growth of its per-descriptor watcher table; netpoll
//     the FD, the PollDesc slab share, and the connection's coroutine (its frame holds the
//     Conn and a kSmallReadBuf read buffer, plus the frame Loop::spawn wraps it in);
//   * netpoll's layers alone, on descriptors that are not connections: the core (Netpoll::open
//     on eventfds: the PollDesc slab share) and the net layer (FileConn on socketpair ends
//     into a vector: Conn + FD + PollDesc), for the docs/benchmarks.md goal of <= 128 B per
//     registered descriptor in the core;
//   * the ping-pong rate over the active connection with the idle set registered, and in a
//     run without it (same server configuration), and their ratio (must not drop).
//
// The idle connections' client ends live in a child process (this binary with --hold), so the
// server's process holds one descriptor per connection, as a real server would (libuv's
// watcher table is indexed by descriptor), and each process stays under RLIMIT_NOFILE, whose
// soft limit is raised to the hard one first. If the hard limit is too low for 9,900 the idle
// count shrinks to fit and says so.
//
// Verified: every echo; the server accepted and closed exactly idle + 1 connections and echoed
// exactly what the active client sent; the child connected all of its idle connections and
// exited cleanly. Nothing asserts a time or a size. Figures from sanitizer builds are
// meaningless (their allocators bypass mallinfo2).
//
//   idle_bench [--smoke] [--reps N] [--seconds S] [--results DIR] [--impl raw,raw_uring,netpoll,libuv,asio,asio_uring]
//              [--idle N]
//   idle_bench --hold PORT N     (the child: holds N idle connections until stdin closes)
#include <malloc.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "benchmarks/echo_clients.h"
#include "benchmarks/echo_servers.h"
#include "benchmarks/harness.h"
#include "netpoll/platform/netpoll.h"
#include "netpoll/net/net.h"
#include "netpoll/net/internal/fd.h"
#include "test/alloc_counter.h"
#include "test/child_process.h"

namespace {

namespace bench = netpoll::bench;
namespace net = netpoll::net;
using bench::Impl;
using bench::kImpls;
using netpoll::testing::ChildProcess;
using netpoll::testing::Stdio;

// The largest idle set this machine's 20,000-descriptor process limit leaves room for (the
// server's process holds one descriptor per connection, plus kSpareFds); the sweep's smaller
// sets show the per-connection figures do not grow with the set.
constexpr int kIdle = 19000;
constexpr int kSweep[] = {1000, 5000, 10000};
constexpr int kSmokeIdle = 200;
// Descriptors each process keeps besides its share of the idle set (stdio, epoll, eventfds,
// listener, the active connection, netpoll's reserve, libuv's signal pipe...), with room.
constexpr int kSpareFds = 100;

// Raises the soft descriptor limit to the hard one; returns the limit now in force.
rlim_t raise_nofile() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return 1024;
  if (r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &r);
    (void)::getrlimit(RLIMIT_NOFILE, &r);
  }
  return r.rlim_cur;
}

// --- the child holding the idle client ends ------------------------------------------------------

int hold_child(int port, int n) {
  (void)raise_nofile();
  std::vector<int> fds;
  fds.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    std::string err;
    const int fd = bench::connect_loopback(port, false, err);
    if (fd < 0) {
      std::fprintf(stderr, "idle_bench --hold: connection %d of %d: %s\n", i, n, err.c_str());
      return 1;
    }
    fds.push_back(fd);
  }
  std::printf("%d\n", n);
  std::fflush(stdout);
  char c;
  while (::read(STDIN_FILENO, &c, 1) > 0) {
  }
  for (int fd : fds) ::close(fd);
  return 0;
}

// The parent's handle on a --hold child.
class IdleClients {
 public:
  // Starts the child and returns once it holds all `n` connections (or fails the run).
  IdleClients(int port, int n) {
    char self[4096];
    const ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) bench::abort_run(bench::errno_text("idle_bench: starting the --hold child"));
    self[len] = 0;
    std::string error;
    child_ = ChildProcess::spawn({self, "--hold", std::to_string(port), std::to_string(n)},
                                 {.in = Stdio::kPipe, .out = Stdio::kPipe, .err = Stdio::kInherit}, &error);
    if (!child_) bench::abort_run("idle_bench: starting the --hold child: " + error);
    // Its one line, once every connection is established.
    std::string line;
    (void)child_->read_line(std::chrono::seconds(60), &line);
    if (std::atoi(line.c_str()) != n) bench::abort_run("idle_bench: the --hold child did not connect its " + std::to_string(n) + " connections");
  }
  // Closes the child's stdin: it closes every idle connection and exits. True if it exited 0
  // (within 60 s).
  bool release() {
    child_->close_stdin();
    return netpoll::testing::exited_zero(child_->wait(std::chrono::seconds(60)));
  }

 private:
  std::optional<ChildProcess> child_;
};

// --- netpoll's layers on their own ---------------------------------------------------------------

// The core: bytes per descriptor registered with Netpoll::open (the PollDesc slab share).
double core_bytes_per_descriptor(int n) {
  std::vector<int> fds;
  std::vector<netpoll::PollDesc*> pds;
  fds.reserve(static_cast<std::size_t>(n));
  pds.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) bench::abort_run(bench::errno_text("eventfd"));
    fds.push_back(fd);
  }
  double per = -1;
  {
    netpoll::Netpoll np;
    const double m0 = bench::heap_bytes();
    for (int fd : fds) {
      netpoll::Result<netpoll::PollDesc*> pd = np.open(fd);
      if (!pd) bench::abort_run("Netpoll::open: " + pd.error().message());
      pds.push_back(*pd);
    }
    per = (bench::heap_bytes() - m0) / n;
    for (netpoll::PollDesc* pd : pds) (void)np.close(pd);
  }
  for (int fd : fds) ::close(fd);
  return per;
}

// The net layer: bytes per socket registered with FileConn, the Conn kept in a vector
// (Conn + FD + PollDesc slab share).
double net_bytes_per_socket(int n) {
  std::vector<int> fds;
  fds.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i + 1 < n; i += 2) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) bench::abort_run(bench::errno_text("socketpair"));
    fds.push_back(sv[0]);
    fds.push_back(sv[1]);
  }
  net::Loop loop;
  double per = -1;
  {
    std::vector<net::Conn> conns;
    const double m0 = bench::heap_bytes();
    conns.reserve(fds.size());
    for (int fd : fds) {
      netpoll::Result<net::Conn> c = net::FileConn(loop, fd);
      if (!c) bench::abort_run("FileConn: " + c.error().message());
      conns.push_back(std::move(*c));
    }
    per = (bench::heap_bytes() - m0) / double(fds.size());
  }  // the Conns close their descriptors
  return per;
}

// --- one measured run ---------------------------------------------------------------------------

struct Series {
  std::vector<double> bytes[kImpls];      // per idle connection
  std::vector<double> rate_idle[kImpls];  // ping-pong with the idle set registered
  std::vector<double> rate_bare[kImpls];  // ping-pong without it
};

// Ping-pong over one connection to a server that serves `idle` idle connections first; with
// `idle` > 0 also measures bytes per idle connection. Returns the round trips/s.
// What the allocation counter saw while the idle set was accepted (operator new only: the
// raw server's RawConns and netpoll's FDs, frames and slabs; libuv mallocs).
struct Allocs {
  double calls = -1;  // per idle connection
  double bytes = -1;  // asked for, per idle connection (malloc's overhead not included)
};

double pingpong(Impl impl, int idle, double seconds, double* bytes_per_conn, Allocs* allocs = nullptr) {
  bench::EchoServer server(impl, {.cpu = 0, .conns = static_cast<std::uint64_t>(idle) + 1, .idle_pool = true});
  const int port = server.port();
  std::unique_ptr<IdleClients> held;
  if (idle > 0) {
    const double m0 = server.heap_bytes();
    const std::uint64_t a0 = netpoll::testing::allocation_count(), b0 = netpoll::testing::allocated_bytes();
    held = std::make_unique<IdleClients>(port, idle);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (server.accepted() < static_cast<std::uint64_t>(idle)) {
      if (std::chrono::steady_clock::now() > give_up)
        bench::abort_run(std::string(bench::kImplName[impl]) + " server did not accept the idle set within 60 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const double m1 = server.heap_bytes();
    *bytes_per_conn = m0 < 0 || m1 < 0 ? -1 : (m1 - m0) / idle;
    if (allocs) {
      allocs->calls = double(netpoll::testing::allocation_count() - a0) / idle;
      allocs->bytes = double(netpoll::testing::allocated_bytes() - b0) / idle;
    }
  }
  bench::ClientOut client = bench::run_pinned(0, [&] { return bench::blocking_pingpong(port, 0, seconds); });
  if (held && !held->release()) client.error = "the --hold child failed";
  client.conns += static_cast<std::uint64_t>(idle);
  (void)bench::join_checked(server, client);
  return client.rate();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--hold") return hold_child(std::atoi(argv[2]), std::atoi(argv[3]));
  bench::Options o = bench::parse_options(argc, argv, " [--idle N]");
  int idle = o.smoke ? kSmokeIdle : kIdle;
  for (std::size_t i = 0; i < o.rest.size(); ++i) {
    if (o.rest[i] == "--idle" && i + 1 < o.rest.size()) {
      idle = std::max(1, std::atoi(o.rest[++i].c_str()));
    } else {
      std::fprintf(stderr, "idle_bench: unknown argument %s\n", o.rest[i].c_str());
      return 2;
    }
  }
  const rlim_t limit = raise_nofile();
  if (static_cast<rlim_t>(idle + kSpareFds) > limit) {
    const int fit = limit > kSpareFds + 1 ? static_cast<int>(limit) - kSpareFds : 1;
    std::fprintf(stderr, "idle_bench: RLIMIT_NOFILE is %llu: %d idle connections instead of %d\n",
                 static_cast<unsigned long long>(limit), fit, idle);
    idle = fit;
  }
  const double seconds = o.smoke ? 0.05 : o.seconds;
  std::fprintf(stderr, "B5 idle set: %d idle connections + 1 active (%zu-byte ping-pong, client and server on CPU 0)%s\n",
               idle, bench::kPingBytes, o.smoke ? " (smoke: figures meaningless)" : "");

  const double core_bytes = core_bytes_per_descriptor(idle);
  const double net_bytes = net_bytes_per_socket(idle);

  // A short warm-up per server (page faults, libuv's first allocations).
  if (!o.smoke)
    for (int k = 0; k < kImpls; ++k)
      if (o.enabled[k]) (void)pingpong(static_cast<Impl>(k), 0, 0.2, nullptr);

  Series s;
  std::vector<double> ignored[kImpls];
  std::vector<double> np_calls, np_asked;
  bench::interleave(o, "B5 bytes/idle conn", [&](Impl k, int) {
    double bytes = -1;
    Allocs al;
    s.rate_bare[k].push_back(pingpong(k, 0, seconds, nullptr));
    s.rate_idle[k].push_back(pingpong(k, idle, seconds, &bytes, &al));
    s.bytes[k].push_back(bytes);
    if (k == bench::kNetpoll) {
      np_calls.push_back(al.calls);
      np_asked.push_back(al.bytes);
    }
    return bytes;
  }, ignored);

  double bytes[kImpls], idle_rate[kImpls], bare_rate[kImpls], kept[kImpls];
  bench::medians(s.bytes, bytes);
  bench::medians(s.rate_idle, idle_rate);
  bench::medians(s.rate_bare, bare_rate);
  for (int k = 0; k < kImpls; ++k) kept[k] = bench::ratio(idle_rate[k], bare_rate[k]);
  double core[kImpls], netl[kImpls];
  bench::set_only(core, bench::kNetpoll, core_bytes);
  bench::set_only(netl, bench::kNetpoll, net_bytes);

  // netpoll's breakdown: the library's parts by size, and what each idle connection allocated
  // (an FD and the session's coroutine frame: the frame is the rest of what it asked for).
  const double calls = bench::median(np_calls), asked = bench::median(np_asked);
  const double conn_size = sizeof(net::Conn), fd_size = sizeof(net::FD), pd_size = sizeof(netpoll::PollDesc);
  const double frame = calls > 0 ? asked - fd_size - pd_size : -1;  // the slab share is pd_size per slot
  const auto np_row = [](const std::string& label, double v, int prec) {
    double a[kImpls];
    bench::set_only(a, bench::kNetpoll, v);
    std::printf("%s", bench::table_row(label, a, prec, false).c_str());
  };
  const std::string n = std::to_string(idle);
  std::printf("%s", bench::table_header("B5 " + n + " idle conns + 1 active (median of " + std::to_string(o.reps) + ")").c_str());
  std::printf("%s", bench::table_row("user-space bytes per idle connection (heap growth / " + n + ")", bytes, 0).c_str());
  std::printf("%s", bench::table_row("netpoll core: bytes per Netpoll::open descriptor", core, 0, false).c_str());
  std::printf("%s", bench::table_row("netpoll net: bytes per FileConn socket (Conn + FD + PollDesc)", netl, 0, false).c_str());
  np_row("  sizeof Conn (in the session's frame)", conn_size, 0);
  np_row("  sizeof FD (one allocation)", fd_size, 0);
  np_row("  sizeof PollDesc (slab slot)", pd_size, 0);
  np_row("  allocations per idle connection (operator new)", calls, 2);
  np_row("  bytes asked per idle connection (FD + frame + slab share)", asked, 0);
  np_row("  coroutine frame (asked - FD - PollDesc; holds the Conn)", frame, 0);
  std::printf("%s", bench::table_row("ping-pong round trips/s, idle set registered", idle_rate, 0).c_str());
  std::printf("%s", bench::table_row("ping-pong round trips/s, no idle set", bare_rate, 0).c_str());
  std::printf("%s", bench::table_row("rate with / without the idle set", kept, 3, false).c_str());

  // Flat from 1,000 to the full set: smaller idle sets, one run each per implementation.
  std::string sweep_json;
  if (!o.smoke) {
    std::printf("%s", bench::table_header("B5 sweep: per idle connection and the active rate, by idle set size").c_str());
    std::vector<int> sizes;
    for (int sz : kSweep)
      if (sz < idle) sizes.push_back(sz);
    for (int sz : sizes) {
      double b[kImpls], r[kImpls];
      bench::set_none(b);
      bench::set_none(r);
      for (int k = 0; k < kImpls; ++k)
        if (o.enabled[k]) r[k] = pingpong(static_cast<Impl>(k), sz, seconds, &b[k]);
      const std::string label = std::to_string(sz);
      std::printf("%s", bench::table_row("bytes per idle connection, " + label + " idle", b, 0).c_str());
      std::printf("%s", bench::table_row("round trips/s, " + label + " idle", r, 0).c_str());
      sweep_json += (sweep_json.empty() ? "" : ", ") + std::string("{\"idle\": ") + label +
                    ", \"bytes\": " + bench::impls_json(b, 1) + ", \"rate\": " + bench::impls_json(r, 1) + "}";
    }
    std::printf("%s", bench::table_row("bytes per idle connection, " + n + " idle (above)", bytes, 0).c_str());
    std::printf("%s", bench::table_row("round trips/s, " + n + " idle (above)", idle_rate, 0).c_str());
  }

  bench::Entry e;
  e.id = "B5";
  e.name = n + " idle connections + 1 active: user-space bytes per connection";
  e.metric = "heap bytes per idle registered connection (median of " + std::to_string(o.reps) + ")";
  e.unit = "bytes/connection";
  e.higher_is_better = false;
  for (int k = 0; k < kImpls; ++k) e.value[k] = bytes[k];
  e.extra = "\"idle_connections\": " + std::to_string(idle) +
            ", \"netpoll_core_bytes_per_descriptor\": " + bench::json_num(core_bytes, 1) +
            ", \"netpoll_net_bytes_per_socket\": " + bench::json_num(net_bytes, 1) +
            ", \"pingpong_rate_idle_set\": " + bench::impls_json(idle_rate, 1) +
            ", \"pingpong_rate_no_idle_set\": " + bench::impls_json(bare_rate, 1) +
            ", \"rate_idle_over_no_idle\": " + bench::impls_json(kept, 4) +
            ", \"netpoll_breakdown\": {\"conn\": " + bench::json_num(conn_size, 0) +
            ", \"fd\": " + bench::json_num(fd_size, 0) + ", \"poll_desc\": " + bench::json_num(pd_size, 0) +
            ", \"allocations_per_conn\": " + bench::json_num(calls, 2) +
            ", \"bytes_asked_per_conn\": " + bench::json_num(asked, 1) +
            ", \"frame\": " + bench::json_num(frame, 1) + "}" +
            ", \"sweep\": [" + sweep_json + "]";
  if (!bench::write_entry(o, e)) bench::fail("could not write the B5 result");
  return bench::exit_status("idle_bench");
}
