// Soak (docs/tests.md, Reliability): thousands of concurrent connections through an echo server for a bounded
// time, with random payloads, random closes and resets (SO_LINGER 0) from both sides and
// deadlines firing on both sides; every connection's bytes are checked (FNV-1a of what was
// sent against what came back, or a verified prefix when a reset cut it short).
//
// At the end: every connection accounted for (none lost, none hung: one that makes no progress
// for kClientIdle fails, however long it lives while it does), open descriptors and
// PollCache descriptors in use back to baseline, live heap allocations and RSS not grown with
// the number of connections, and the poller does not spin: with a few hundred idle connections
// (unread data, peers hung up) both loop threads use < 5 % CPU over an idle second (a check
// against busy-looping, not a speed assertion).
//
// Windows (under wine): the same test over IOCP, handles counted instead of descriptors and
// the working set instead of RSS; tools/test runs it with fewer connections
// (NETPOLL_SOAK_CONNS), since every socket is also a descriptor of the one wineserver that all
// concurrently running tests share.
//
// Knobs (environment): NETPOLL_SOAK_SECONDS (default 60; tools/test passes a short bound),
// NETPOLL_SOAK_CONNS (concurrent connections; default 8000, 2000 under ASan, 1000 under
// TSan), NETPOLL_SOAK_SEED. Both ends run in this process: 2 x 8000 descriptors stay under
// the 20,000-descriptor limit.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "netpoll/net/net.h"
#include "test/alloc_counter.h"
#include "test/process_stats.h"

using namespace netpoll;
using namespace netpoll::net;
using namespace std::chrono_literals;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr long kDefaultConns = 2000;
constexpr bool kSanitized = true;
#elif defined(__SANITIZE_THREAD__)
constexpr long kDefaultConns = 1000;
constexpr bool kSanitized = true;
#else
constexpr long kDefaultConns = 8000;
constexpr bool kSanitized = false;
#endif

long env_long(const char* name, long def) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtol(v, nullptr, 10) : def;
}

struct Rng {
  std::uint64_t s;
  explicit Rng(std::uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  std::uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(next() % n); }
};

struct Fnv {
  std::uint64_t h = 1469598103934665603ull;
  void add(const std::byte* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) h = (h ^ static_cast<std::uint8_t>(p[i])) * 1099511628211ull;
  }
};

// What a client asks of the server for one connection (the first 8 bytes it sends).
enum Mode : std::uint8_t {
  kEcho,         // echo until EOF, then close
  kServerReset,  // echo `param` bytes, then reset (SO_LINGER 0)
  kDeadline,     // the server's read deadline (param us) fires first; it says 'D'; then echo
  kClientReset,  // echo; the client resets mid-stream
  kClientClose,  // echo; the client closes with data unread
  kModes
};
struct Header {
  std::uint8_t mode;
  std::uint8_t pad[3];
  std::uint32_t param;
};
static_assert(sizeof(Header) == 8);

constexpr std::size_t kChunk = 4096;

// The hang detectors: a connection that completes no operation for this long has hung (a lost
// wakeup, edge or timer) and fails with Errc::deadline_exceeded. Each side re-arms its
// deadline before every exchange, so the bound is on the time without progress, never on a
// connection's age: a 256 KiB payload is ~130 round trips, and with 8000 connections on a
// loaded machine one round trip may take a second or more (a fixed 60 s bound from the dial
// failed hundreds of healthy large connections that had made progress a moment before).
// The server's is the longer, so a hang is reported by the client, which names the mode.
constexpr auto kClientIdle = 60s;
constexpr auto kServerIdle = 120s;

struct Stats {
  std::atomic<std::uint64_t> conns{0}, verified{0}, prefix_verified{0}, bytes{0}, ops{0};
  std::atomic<std::uint64_t> client_resets{0}, server_resets{0}, client_closes{0};
  std::atomic<std::uint64_t> server_deadlines{0}, client_deadlines{0}, deadline_races{0};
  std::atomic<std::uint64_t> failures{0};  // lost or corrupted data, unexpected errors, hangs
  std::atomic<std::uint64_t> dial_errors{0};
  std::atomic<std::uint64_t> mode_count[kModes] = {};
  std::mutex mu;
  std::vector<std::string> first_failures;
  void fail(const std::string& what) {
    failures.fetch_add(1);
    std::lock_guard<std::mutex> g(mu);
    if (first_failures.size() < 10) first_failures.push_back(what);
  }
};

// A count the main thread can wait on reaching zero, with a bound. It may go below zero for a
// moment (a server connection done before its client counted it).
class Pending {
 public:
  void add(long n) {
    std::lock_guard<std::mutex> g(mu_);
    if ((n_ += n) == 0) cv_.notify_all();
  }
  void done() {
    std::lock_guard<std::mutex> g(mu_);
    if (--n_ == 0) cv_.notify_all();
  }
  long value() {
    std::lock_guard<std::mutex> g(mu_);
    return n_;
  }
  bool wait_zero(std::chrono::seconds limit) {
    std::unique_lock<std::mutex> g(mu_);
    return cv_.wait_for(g, limit, [&] { return n_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  long n_ = 0;
};

void set_linger_zero(Conn& c) {
  linger lg{1, 0};
  ::setsockopt(c.native_handle(), SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&lg),
               sizeof lg);
}

bool is_reset(std::error_code ec) {
  return ec == std::errc::connection_reset || ec == std::errc::broken_pipe;
}

// --- the server ---------------------------------------------------------------------------------

Task<bool> read_full(Conn& c, std::byte* p, std::size_t n, Stats& st) {
  std::size_t got = 0;
  while (got < n) {
    Result<std::size_t> r = co_await c.Read(std::span<std::byte>(p + got, n - got));
    st.ops.fetch_add(1, std::memory_order_relaxed);
    if (!r || *r == 0) co_return false;
    got += *r;
  }
  co_return true;
}

Task<void> serve_conn(Conn c, Stats& st, Pending& active) {
  (void)c.SetDeadline(std::chrono::steady_clock::now() + kServerIdle);  // re-armed per echo
  Header h{};
  std::array<std::byte, kChunk> buf;
  if (co_await read_full(c, reinterpret_cast<std::byte*>(&h), sizeof h, st)) {
    std::uint64_t limit = ~std::uint64_t{0};
    if (h.mode == kServerReset) limit = h.param;
    if (h.mode == kDeadline) {
      // The client sends nothing until told: this Read must end by its deadline.
      (void)c.SetReadDeadline(std::chrono::steady_clock::now() + std::chrono::microseconds(h.param));
      Result<std::size_t> r = co_await c.Read(buf);
      st.ops.fetch_add(1, std::memory_order_relaxed);
      if (!r && r.error() == Errc::deadline_exceeded) st.server_deadlines.fetch_add(1);
      else st.fail("server: the read deadline did not fire");
      (void)c.SetReadDeadline(std::chrono::steady_clock::now() + kServerIdle);
      (void)co_await c.Write(std::string_view("D"));
    }
    std::uint64_t echoed = 0;
    for (;;) {
      (void)c.SetDeadline(std::chrono::steady_clock::now() + kServerIdle);
      const std::size_t room = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), limit - echoed));
      if (room == 0) {  // kServerReset: enough echoed
        set_linger_zero(c);
        st.server_resets.fetch_add(1);
        break;
      }
      Result<std::size_t> r = co_await c.Read(std::span<std::byte>(buf.data(), room));
      st.ops.fetch_add(1, std::memory_order_relaxed);
      if (!r) {
        if (!is_reset(r.error())) st.fail("server read: " + r.error().message());
        break;
      }
      if (*r == 0) break;  // EOF: closing ends the echo
      Result<std::size_t> w = co_await c.Write(std::span<const std::byte>(buf.data(), *r));
      st.ops.fetch_add(1, std::memory_order_relaxed);
      if (!w) {
        if (!is_reset(w.error())) st.fail("server write: " + w.error().message());
        break;
      }
      echoed += *r;
    }
  }
  c.Close();
  active.done();
}

Task<void> accept_loop(Loop& loop, Listener& ln, Stats& st, Pending& active, Pending& loops) {
  for (;;) {
    Result<Conn> c = co_await ln.Accept();
    if (!c) {
      if (c.error() != Errc::closed) st.fail("accept: " + c.error().message());
      if (c.error() == Errc::closed) break;
      continue;
    }
    loop.spawn(serve_conn(std::move(*c), st, active));
  }
  loops.done();
}

// --- the clients -------------------------------------------------------------------------------

struct ClientCtx {
  Loop* loop;
  std::vector<std::string> targets;
  Stats* st;
  Pending* server_conns;  // +1 per connection dialed, -1 when the server is done with it
  std::atomic<bool> stop{false};
  Pending running;
  std::uint64_t seed;
};

std::string describe(const char* what, Mode m, std::error_code ec) {
  return std::string(what) + " (mode " + std::to_string(m) + "): " + ec.message();
}

// Sends a random chunk and reads its echo back; false when the connection ended (reason in
// *ec, or empty for EOF). Sent and received bytes go into the checksums.
Task<bool> exchange(Conn& c, Rng& rng, std::size_t n, Fnv& sent, Fnv& recv, std::uint64_t& sent_n,
                    std::uint64_t& recv_n, std::error_code* ec, Stats& st) {
  std::array<std::byte, kChunk> out, in;
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>(rng.next());
  (void)c.SetDeadline(std::chrono::steady_clock::now() + kClientIdle);  // a hang fails
  Result<std::size_t> w = co_await c.Write(std::span<const std::byte>(out.data(), n));
  st.ops.fetch_add(1, std::memory_order_relaxed);
  if (!w) {
    *ec = w.error();
    co_return false;
  }
  sent.add(out.data(), n);
  sent_n += n;
  std::size_t got = 0;
  while (got < n) {
    Result<std::size_t> r = co_await c.Read(std::span<std::byte>(in.data() + got, n - got));
    st.ops.fetch_add(1, std::memory_order_relaxed);
    if (!r || *r == 0) {
      *ec = r ? std::error_code{} : r.error();
      recv.add(in.data(), got);
      recv_n += got;
      // What did come back must be what was sent (a prefix of this chunk).
      if (std::memcmp(in.data(), out.data(), got) != 0) *ec = std::make_error_code(std::errc::bad_message);
      co_return false;
    }
    got += *r;
  }
  if (std::memcmp(in.data(), out.data(), n) != 0) {
    *ec = std::make_error_code(std::errc::bad_message);
    co_return false;
  }
  recv.add(in.data(), n);
  recv_n += n;
  st.bytes.fetch_add(2 * n, std::memory_order_relaxed);
  co_return true;
}

Task<void> one_conn(ClientCtx& cx, Rng& rng) {
  Stats& st = *cx.st;
  const std::string& target = cx.targets[rng.below(static_cast<std::uint32_t>(cx.targets.size()))];
  Result<Conn> cr = co_await Dial(*cx.loop, "tcp", target, 30s);
  if (!cr) {
    st.dial_errors.fetch_add(1);
    st.fail("dial: " + cr.error().message());
    co_return;
  }
  Conn c = std::move(*cr);
  cx.server_conns->add(1);
  st.conns.fetch_add(1, std::memory_order_relaxed);
  (void)c.SetDeadline(std::chrono::steady_clock::now() + kClientIdle);  // a hang fails
  const std::uint32_t pick = rng.below(100);
  const Mode mode = pick < 50 ? kEcho : pick < 62 ? kServerReset : pick < 80 ? kDeadline
                    : pick < 90 ? kClientReset : kClientClose;
  st.mode_count[mode].fetch_add(1, std::memory_order_relaxed);
  // Payload: mostly small, sometimes large.
  const std::uint64_t total = rng.below(10) == 0 ? rng.below(256 * 1024) : rng.below(16 * 1024);
  Header h{};
  h.mode = mode;
  if (mode == kServerReset) h.param = rng.below(static_cast<std::uint32_t>(total + 1));
  if (mode == kDeadline) h.param = 1000 + rng.below(2000);  // 1-3 ms
  Result<std::size_t> hw = co_await c.Write(std::span<const std::byte>(reinterpret_cast<const std::byte*>(&h), sizeof h));
  st.ops.fetch_add(1, std::memory_order_relaxed);
  if (!hw) {
    st.fail(describe("header write", mode, hw.error()));
    co_return;
  }
  if (mode == kDeadline) {
    // Our own read deadline, shorter than the server's: it fires with nothing to read (on a
    // loaded machine the server's 'D' may come first; that is counted, not a failure).
    (void)c.SetReadDeadline(std::chrono::steady_clock::now() + 500us);
    char d = 0;
    Result<std::size_t> r = co_await c.Read(std::span<char>(&d, 1));
    st.ops.fetch_add(1, std::memory_order_relaxed);
    (void)c.SetReadDeadline(std::chrono::steady_clock::now() + kClientIdle);
    if (!r && r.error() == Errc::deadline_exceeded) {
      st.client_deadlines.fetch_add(1);
      r = co_await c.Read(std::span<char>(&d, 1));
      st.ops.fetch_add(1, std::memory_order_relaxed);
    } else {
      st.deadline_races.fetch_add(1);
    }
    if (!r || *r != 1 || d != 'D') {
      st.fail(describe("deadline handshake", mode, r ? std::error_code{} : r.error()));
      co_return;
    }
  }
  // Where a client-side abort happens.
  const std::uint64_t abort_at = (mode == kClientReset || mode == kClientClose) ? rng.below(static_cast<std::uint32_t>(total + 1)) : ~std::uint64_t{0};
  Fnv sent, recv;
  std::uint64_t sent_n = 0, recv_n = 0;
  std::error_code ec;
  bool open = true;
  while (sent_n < total && open) {
    if (sent_n >= abort_at) break;
    const std::size_t n = 1 + rng.below(static_cast<std::uint32_t>(std::min<std::uint64_t>(kChunk, total - sent_n)));
    open = co_await exchange(c, rng, n, sent, recv, sent_n, recv_n, &ec, st);
  }
  if (ec == std::errc::bad_message) {
    st.fail(describe("echo corrupted", mode, ec));
    co_return;
  }
  switch (mode) {
    case kEcho:
    case kDeadline: {
      if (!open) {
        st.fail(describe("echo ended early", mode, ec));
        co_return;
      }
      (void)c.SetDeadline(std::chrono::steady_clock::now() + kClientIdle);
      if (auto e = c.CloseWrite()) {
        st.fail(describe("CloseWrite", mode, e));
        co_return;
      }
      char b[16];
      Result<std::size_t> r = co_await c.Read(std::span<char>(b));
      st.ops.fetch_add(1, std::memory_order_relaxed);
      if (!r || *r != 0) {
        st.fail(describe("no EOF after the echo", mode, r ? std::error_code{} : r.error()));
        co_return;
      }
      if (sent.h != recv.h || sent_n != recv_n || sent_n != total) {
        st.fail("checksum mismatch");
        co_return;
      }
      st.verified.fetch_add(1, std::memory_order_relaxed);
      break;
    }
    case kServerReset: {
      // The server resets after h.param bytes: the echo must stop there, with a reset (or
      // EOF), never more bytes than that and never different ones.
      if (open) {  // everything fit below the limit: now see the reset or EOF
        std::error_code e2;
        while (open) open = co_await exchange(c, rng, 1, sent, recv, sent_n, recv_n, &e2, st);
        ec = e2;
      }
      if (ec && !is_reset(ec)) {
        st.fail(describe("server reset seen as", mode, ec));
        co_return;
      }
      if (recv_n > h.param) {
        st.fail("more echoed than the server sent before its reset");
        co_return;
      }
      st.prefix_verified.fetch_add(1, std::memory_order_relaxed);
      break;
    }
    case kClientReset:
    case kClientClose: {
      if (!open) {
        st.fail(describe("echo ended early", mode, ec));
        co_return;
      }
      if (sent.h != recv.h) {
        st.fail("checksum mismatch before the abort");
        co_return;
      }
      if (mode == kClientReset) {
        set_linger_zero(c);
        st.client_resets.fetch_add(1, std::memory_order_relaxed);
      } else {
        // Leave unread data behind (the kernel then resets too) by sending a last chunk.
        std::array<std::byte, 512> tail{};
        (void)co_await c.Write(std::span<const std::byte>(tail));
        st.client_closes.fetch_add(1, std::memory_order_relaxed);
      }
      st.prefix_verified.fetch_add(1, std::memory_order_relaxed);
      break;
    }
    default: break;
  }
  c.Close();
}

Task<void> client_slot(ClientCtx& cx, int id, bool once) {
  Rng rng(cx.seed ^ (static_cast<std::uint64_t>(id) << 20));
  do {
    co_await one_conn(cx, rng);
  } while (!once && !cx.stop.load(std::memory_order_relaxed));
  cx.running.done();
}

// --- measurements ----------------------------------------------------------------------------------

// A Loop on its own thread (ours: its CPU time is measured).
struct LoopRunner {
  Loop loop;
  std::thread thread{[this] { loop.run(); }};
  ~LoopRunner() {
    loop.stop();
    thread.join();
  }
};

}  // namespace

TEST_CASE("soak: thousands of connections, resets, deadlines; nothing lost, leaked or spinning") {
  netpoll::testing::raise_fd_limit();
  const long seconds = env_long("NETPOLL_SOAK_SECONDS", 60);
  const long conns = env_long("NETPOLL_SOAK_CONNS", kDefaultConns);
  const std::uint64_t seed = static_cast<std::uint64_t>(env_long("NETPOLL_SOAK_SEED", 7));
  MESSAGE("soak: ", seconds, " s, ", conns, " concurrent connections, seed ", seed);

  Stats st;
  Pending server_conns, accept_loops;
  LoopRunner srv, cli;
  constexpr int kListeners = 4;  // more (address, port) pairs for the ephemeral ports
  std::vector<Listener> lns;
  ClientCtx cx;
  cx.loop = &cli.loop;
  cx.st = &st;
  cx.server_conns = &server_conns;
  cx.seed = seed;
  for (int i = 0; i < kListeners; ++i) {
    Result<Listener> ln = Listen(srv.loop, "tcp", "127.0.0.1:0");
    REQUIRE(ln);
    cx.targets.push_back(ln->Addr().to_string());
    lns.push_back(std::move(*ln));
  }
  accept_loops.add(kListeners);
  srv.loop.post([&] {
    for (Listener& ln : lns) srv.loop.spawn(accept_loop(srv.loop, ln, st, server_conns, accept_loops));
  });

  auto wave = [&](bool once) {
    cx.running.add(conns);
    cli.loop.post([&, once] {
      for (long i = 0; i < conns; ++i) cli.loop.spawn(client_slot(cx, static_cast<int>(i), once));
    });
  };
  // Every connection of a wave finished on both sides (bounded: a hang fails here).
  auto settle = [&](const char* what) {
    CHECK_MESSAGE(cx.running.wait_zero(120s), what, ": clients still running: ", cx.running.value());
    CHECK_MESSAGE(server_conns.wait_zero(60s), what, ": server connections still open: ",
                  server_conns.value());
  };

  // Warm-up wave: one connection per slot; then the baseline (descriptors, PollDescs, heap,
  // RSS) at a quiet point with every connection closed.
  wave(true);
  settle("warm-up");
  netpoll::testing::release_free_memory();
  const std::size_t base_fds = netpoll::testing::open_fd_count();
  const std::size_t base_srv_pds = srv.loop.netpoll().cache().in_use();
  const std::size_t base_cli_pds = cli.loop.netpoll().cache().in_use();
  const std::int64_t base_allocs = netpoll::testing::live_allocation_count();
  const std::size_t base_rss = netpoll::testing::resident_bytes();
  const std::uint64_t warm_conns = st.conns.load();

  // The soak proper.
  const auto t0 = std::chrono::steady_clock::now();
  wave(false);
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  cx.stop = true;
  settle("soak");
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Back to baseline.
  netpoll::testing::release_free_memory();
  const std::size_t end_fds = netpoll::testing::open_fd_count();
  const std::int64_t end_allocs = netpoll::testing::live_allocation_count();
  const std::size_t end_rss = netpoll::testing::resident_bytes();
  const std::uint64_t soak_conns = st.conns.load() - warm_conns;
  CHECK(end_fds == base_fds);
  if (base_fds == 0)
    MESSAGE("soak: open handles cannot be counted here (0 both times); sockets are covered by "
            "the PollDesc and heap counts only");
  CHECK(srv.loop.netpoll().cache().in_use() == base_srv_pds);
  CHECK(cli.loop.netpoll().cache().in_use() == base_cli_pds);
  CHECK(srv.loop.netpoll().timers().size() == 0);
  CHECK(cli.loop.netpoll().timers().size() == 0);
  // No growth with the number of connections (slabs and queues sized by the peak may add a
  // few allocations; a leak per connection would add thousands).
  const std::int64_t alloc_growth = end_allocs - base_allocs;
  CHECK(alloc_growth < 256);
  if (!kSanitized) CHECK(end_rss <= base_rss + base_rss / 10 + (8u << 20));

  // Idle: a few hundred connections left open with unread echoed data on the client side, and
  // some whose peer hung up; neither loop thread may spin.
  std::vector<Conn> idle;
  std::mutex idle_mu;
  Pending idle_ready;
  constexpr int kIdle = 300;
  idle_ready.add(kIdle);
  {
    struct Maker {
      static Task<void> make(ClientCtx& cx, int i, std::vector<Conn>& out, std::mutex& mu,
                             Pending& ready) {
        Result<Conn> c = co_await Dial(*cx.loop, "tcp", cx.targets[i % cx.targets.size()]);
        if (c) {
          cx.server_conns->add(1);
          Header h{};
          h.mode = kEcho;
          (void)co_await c->Write(std::span<const std::byte>(reinterpret_cast<const std::byte*>(&h), sizeof h));
          (void)co_await c->Write(std::string_view("unread echo"));  // echoed, never read
          if (i % 3 == 0) (void)c->CloseWrite();  // the server sees EOF and hangs up
          std::lock_guard<std::mutex> g(mu);
          out.push_back(std::move(*c));
        }
        ready.done();
      }
    };
    cli.loop.post([&] {
      for (int i = 0; i < kIdle; ++i) cli.loop.spawn(Maker::make(cx, i, idle, idle_mu, idle_ready));
    });
  }
  REQUIRE(idle_ready.wait_zero(60s));
  // Let the echoes and hang-ups land: until neither loop has polled for 200 ms (bounded; under
  // wine the hang-ups took longer than a fixed pause, and that work is not a spin).
  {
    auto waits = [&] {
      return srv.loop.netpoll().backend().stats().waits + cli.loop.netpoll().backend().stats().waits;
    };
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    for (auto last = waits(); std::chrono::steady_clock::now() < give_up;) {
      std::this_thread::sleep_for(200ms);
      const auto now = waits();
      if (now == last) break;
      last = now;
    }
  }
  const std::int64_t srv_cpu0 = netpoll::testing::thread_cpu_ns(srv.thread);
  const std::int64_t cli_cpu0 = netpoll::testing::thread_cpu_ns(cli.thread);
  const auto srv_waits0 = srv.loop.netpoll().backend().stats().waits;
  const auto cli_waits0 = cli.loop.netpoll().backend().stats().waits;
  const auto i0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(1s);
  const double idle_wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - i0).count() * 1e9;
  const double srv_idle = (netpoll::testing::thread_cpu_ns(srv.thread) - srv_cpu0) / idle_wall;
  const double cli_idle = (netpoll::testing::thread_cpu_ns(cli.thread) - cli_cpu0) / idle_wall;
  const auto srv_waits = srv.loop.netpoll().backend().stats().waits - srv_waits0;
  const auto cli_waits = cli.loop.netpoll().backend().stats().waits - cli_waits0;
  CHECK(srv_idle < 0.05);
  CHECK(cli_idle < 0.05);
  CHECK(srv_waits < 100);  // a spinning poller would wait millions of times
  CHECK(cli_waits < 100);

  // Close everything: the idle set, then the listeners (accept loops end).
  {
    Pending closed;
    closed.add(1);
    cli.loop.post([&] {
      std::lock_guard<std::mutex> g(idle_mu);
      idle.clear();
      closed.done();
    });
    REQUIRE(closed.wait_zero(30s));
  }
  CHECK(server_conns.wait_zero(60s));
  {
    Pending closed;
    closed.add(1);
    srv.loop.post([&] {
      for (Listener& ln : lns) ln.Close();
      closed.done();
    });
    REQUIRE(closed.wait_zero(30s));
  }
  CHECK(accept_loops.wait_zero(30s));

  {
    std::lock_guard<std::mutex> g(st.mu);
    for (const std::string& f : st.first_failures) MESSAGE("failure: ", f);
  }
  const std::uint64_t total = st.conns.load();
  MESSAGE("soak: ", total, " connections (", warm_conns, " warm-up + ", soak_conns, " in ", wall,
          " s), ", st.ops.load(), " operations, ", st.bytes.load() / (1 << 20), " MiB echoed");
  MESSAGE("soak: modes echo/server-reset/deadline/client-reset/client-close = ",
          st.mode_count[kEcho].load(), "/", st.mode_count[kServerReset].load(), "/",
          st.mode_count[kDeadline].load(), "/", st.mode_count[kClientReset].load(), "/",
          st.mode_count[kClientClose].load(), "; checksum-verified ", st.verified.load(),
          ", prefix-verified ", st.prefix_verified.load());
  MESSAGE("soak: resets by server ", st.server_resets.load(), ", by client ",
          st.client_resets.load(), ", client closes with unread data ", st.client_closes.load(),
          "; deadlines fired: server ", st.server_deadlines.load(), ", client ",
          st.client_deadlines.load(), " (", st.deadline_races.load(), " raced by the reply)");
  MESSAGE("soak: failures ", st.failures.load(), "; fds ", base_fds, " -> ", end_fds,
          "; heap allocations live ", base_allocs, " -> ", end_allocs, "; RSS ",
          base_rss >> 20, " -> ", end_rss >> 20, " MiB; idle CPU server ", srv_idle * 100,
          " %, client ", cli_idle * 100, " % (", srv_waits, "/", cli_waits, " waits in 1 s)");
  CHECK(st.failures.load() == 0);
  CHECK(st.verified.load() + st.prefix_verified.load() == total);
  CHECK(st.server_deadlines.load() == st.mode_count[kDeadline].load());
}
