// POSIX-specific net tests: errnos injected through the syscall hooks (docs/testing.md cases 4, 5,
// 6), fallbacks for refused flags, self-connect, the fdMutex stress (case 8), bad input
// (case 25), and the 1,000-coroutine / 500-connection integrity run.
// Not built for Windows: errnos are injected through the POSIX hook table (netpoll/net/internal/sys_posix.h).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cerrno>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "netpoll/net/internal/fd_mutex.h"
#include "netpoll/net/net.h"
#include "netpoll/net/internal/sys_posix.h"
#include "test/net_test_util.h"
#include "test/posix_fd.h"
#include "test/test_util.h"

using namespace netpoll;
using namespace netpoll::net;
using namespace std::chrono_literals;

namespace {

// Hooks are plain function pointers: state for the injected behaviour lives in globals.
std::atomic<int> g_calls{0};
std::atomic<int> g_fail_left{0};
std::atomic<int> g_errno{0};

template <auto Real, class... A>
auto failing(A... a) {
  g_calls.fetch_add(1);
  if (g_fail_left.fetch_sub(1) > 0) {
    errno = g_errno.load();
    return static_cast<decltype(Real(a...))>(-1);
  }
  return Real(a...);
}

void inject(int times, int err) {
  g_calls = 0;
  g_fail_left = times;
  g_errno = err;
}

using netpoll::testing::LoopThread;

// A connected pair from a plain thread (a LoopThread serves `loop`).
netpoll::testing::ConnPair pair(Loop& loop, Listener& ln) {
  return netpoll::testing::tcp_conn_pair(loop, ln).wait();
}

int raw_connect(const SockAddr& a) {
  const int s = netpoll::testing::socket_cloexec(a.family(), SOCK_STREAM, 0);
  REQUIRE(s >= 0);
  REQUIRE(::connect(s, a.get(), a.len()) == 0);
  return s;
}

}  // namespace

TEST_SUITE("net/posix") {

TEST_CASE("case 5: ECONNABORTED from accept is retried, the next client is accepted") {
  HookGuard guard;
  LoopThread lt;
  Result<Listener> ln = Listen(lt.loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  netpoll::testing::Fd client(raw_connect(ln->Addr()));
  inject(3, ECONNABORTED);
  sys.accept4 = &failing<&accept4_or_enosys, int, sockaddr*, socklen_t*, int>;
  Result<Conn> c = ln->Accept().wait();
  REQUIRE(c);
  CHECK(g_calls.load() == 4);
  CHECK(c->RemoteAddr().port() != 0);
}

TEST_CASE("accept4 refused (ENOSYS): accept + fcntl fallback gives a nonblocking close-on-exec Conn") {
  HookGuard guard;
  LoopThread lt;
  Result<Listener> ln = Listen(lt.loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  netpoll::testing::Fd client(raw_connect(ln->Addr()));
  inject(1000, ENOSYS);
  sys.accept4 = &failing<&accept4_or_enosys, int, sockaddr*, socklen_t*, int>;
  Result<Conn> c = ln->Accept().wait();
  REQUIRE(c);
  CHECK((::fcntl(c->native_handle(), F_GETFL) & O_NONBLOCK) != 0);
  CHECK((::fcntl(c->native_handle(), F_GETFD) & FD_CLOEXEC) != 0);
}

TEST_CASE("socket flags refused (EINVAL): socket + fcntl fallback") {
  HookGuard guard;
  Loop loop;
  inject(1, EINVAL);
  sys.socket = &failing<&::socket, int, int, int>;
  Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  CHECK(g_calls.load() == 2);
  CHECK((::fcntl(ln->native_handle(), F_GETFL) & O_NONBLOCK) != 0);
  CHECK((::fcntl(ln->native_handle(), F_GETFD) & FD_CLOEXEC) != 0);
}

TEST_CASE("case 6: EINTR on read and write is retried; close is never retried") {
  HookGuard guard;
  LoopThread lt;
  Result<Listener> ln = Listen(lt.loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  auto p = pair(lt.loop, *ln);
  inject(2, EINTR);
  sys.send = &failing<&::send, int, const void*, size_t, int>;
  REQUIRE(p.client.Write(std::string_view("abc")).wait());
  CHECK(g_calls.load() == 3);
  sys.send = kRealSys.send;
  // A TCP read is recvmsg (it asks for the bytes left, TCP_INQ: netpoll/net/internal/fd_posix.h).
  inject(2, EINTR);
  sys.recvmsg = &failing<&::recvmsg, int, msghdr*, int>;
  char b[8];
  Result<std::size_t> n = p.server.Read(std::span<char>(b)).wait();
  REQUIRE(n);
  CHECK(*n == 3);
  CHECK(g_calls.load() == 3);
  sys.recvmsg = kRealSys.recvmsg;
  // close(2) failing with EINTR: the descriptor is gone on Linux, so it is called once.
  const int fd = p.server.native_handle();
  inject(1, EINTR);
  sys.close = &failing<&::close, int>;
  REQUIRE(!p.server.Close());
  CHECK(g_calls.load() == 1);
  sys.close = kRealSys.close;
  ::close(fd);  // the injected failure skipped the real close
}

TEST_CASE("case 6: a signal interrupting a thread parked in Read does not end the Read") {
  LoopThread lt;
  Result<Listener> ln = Listen(lt.loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  auto p = pair(lt.loop, *ln);
  struct sigaction sa {};
  sa.sa_handler = [](int) {};
  struct sigaction old {};
  REQUIRE(::sigaction(SIGUSR1, &sa, &old) == 0);
  std::atomic<bool> done{false};
  Result<std::size_t> got{Errc::invalid_argument};
  std::thread reader([&] {
    char b[8];
    got = p.server.Read(std::span<char>(b)).wait();
    done = true;
  });
  for (int i = 0; i < 20; ++i) {
    ::pthread_kill(reader.native_handle(), SIGUSR1);
    std::this_thread::sleep_for(1ms);
  }
  CHECK(!done.load());
  REQUIRE(p.client.Write(std::string_view("hi")).wait());
  reader.join();
  REQUIRE(got);
  CHECK(*got == 2);
  ::sigaction(SIGUSR1, &old, nullptr);
}

namespace {
std::atomic<int> g_reads{0};
ssize_t counting_recvmsg(int fd, msghdr* m, int flags) {
  g_reads.fetch_add(1);
  return ::recvmsg(fd, m, flags);
}
ssize_t counting_read(int fd, void* b, size_t n) {
  g_reads.fetch_add(1);
  return ::read(fd, b, n);
}

// The read syscalls `r` makes for its second Read: the first drained the socket, and the byte
// for the second is written only once that Read has started (the writer runs when it parks).
Task<int> second_read_calls(Loop& loop, Conn& r, Conn& w) {
  char b[16];
  REQUIRE(co_await w.Write(std::string_view("x")));
  Result<std::size_t> n = co_await r.Read(std::span<char>(b));
  REQUIRE(n);
  REQUIRE(*n == 1);
  g_reads = 0;
  loop.spawn([](Conn& w) -> Task<void> { REQUIRE(co_await w.Write(std::string_view("y"))); }(w));
  n = co_await r.Read(std::span<char>(b));
  REQUIRE(n);
  CHECK(std::string(b, *n) == "y");
  co_return g_reads.load();
}
}  // namespace

namespace {
// The read syscalls counted (recvmsg: the reads that ask for the kernel's count, and
// Readable's MSG_PEEK; read: the others), over a loopback TCP pair and a Unix stream pair.
struct CountedPairs {
  CountedPairs() {
    sys.recvmsg = &counting_recvmsg;
    sys.read = &counting_read;
    REQUIRE(ln);
    tcp = loop.block_on(netpoll::testing::tcp_conn_pair(loop, *ln));
    int sv[2];
    REQUIRE(netpoll::testing::socketpair_cloexec(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    unix_a = FileConn(loop, sv[0]);
    unix_b = FileConn(loop, sv[1]);
    REQUIRE(unix_a);
    REQUIRE(unix_b);
  }
  HookGuard guard;  // restores the hooks last
  Loop loop;
  Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
  netpoll::testing::ConnPair tcp;
  Result<Conn> unix_a{Errc::invalid_argument}, unix_b{Errc::invalid_argument};
};
}  // namespace

TEST_CASE("drained: a TCP Read the kernel said left nothing lets the next Read park without a syscall") {
  // The edge-triggered floor (3 syscalls per request/response: wait, read, write) rests on
  // this; a Unix-domain stream has no such statement and pays the EAGAIN read (netpoll/net/internal/fd_posix.h).
  CountedPairs f;
  CHECK(f.loop.block_on(second_read_calls(f.loop, f.tcp.server, f.tcp.client)) == 1);
  CHECK(f.loop.block_on(second_read_calls(f.loop, *f.unix_a, *f.unix_b)) == 2);  // EAGAIN, then the byte
}

namespace {
// Readable then Read, with the reads counted: the first Read drained the socket (TCP) or
// could not tell (Unix), and the byte Readable waits for is written once it has started.
Task<int> readable_then_read_calls(Loop& loop, Conn& r, Conn& w) {
  char b[16];
  REQUIRE(co_await w.Write(std::string_view("x")));
  REQUIRE(co_await r.Read(std::span<char>(b)));
  g_reads = 0;
  loop.spawn([](Conn& w) -> Task<void> { REQUIRE(co_await w.Write(std::string_view("y"))); }(w));
  REQUIRE(!co_await r.Readable());
  Result<std::size_t> n = co_await r.Read(std::span<char>(b));
  REQUIRE(n);
  CHECK(std::string(b, *n) == "y");
  co_return g_reads.load();
}

// A short Read left bytes, which are then taken through native_handle(): Readable asks the
// socket (one MSG_PEEK) instead of trusting the count the Read got, so it waits for bytes that
// are really there (here: until its deadline). What it returns, and its reads.
Task<std::pair<std::error_code, int>> readable_after_bytes_taken(Loop& loop, Conn& r, Conn& w) {
  REQUIRE(co_await w.Write(std::string_view("xyz")));
  co_await sleep_for(loop, std::chrono::milliseconds(20));  // all three queued (not a timing assertion)
  char b[1];
  REQUIRE(co_await r.Read(std::span<char>(b)));  // the kernel's count: 2 left
  char rest[16];
  REQUIRE(::recv(r.native_handle(), rest, sizeof rest, 0) == 2);
  g_reads = 0;
  REQUIRE(!r.SetReadDeadline(std::chrono::steady_clock::now() + std::chrono::milliseconds(100)));
  std::error_code ec = co_await r.Readable();
  const int reads = g_reads.load();
  REQUIRE(!r.SetReadDeadline({}));
  co_return std::pair{ec, reads};
}
}  // namespace

TEST_CASE("Readable: a drained TCP socket parks at once and its edge ends the wait, with no syscall; otherwise it asks the socket") {
  CountedPairs f;
  // Readable: no syscall (drained: park; the edge: done); the Read: one.
  CHECK(f.loop.block_on(readable_then_read_calls(f.loop, f.tcp.server, f.tcp.client)) == 1);
  const auto [ec, peeks] = f.loop.block_on(readable_after_bytes_taken(f.loop, f.tcp.server, f.tcp.client));
  CHECK(ec == Errc::deadline_exceeded);  // nothing there: it did not finish on a stale count
  CHECK(peeks == 1);
  // A Unix stream has no count: Readable peeks (EAGAIN), parks, finishes on the edge; the Read.
  CHECK(f.loop.block_on(readable_then_read_calls(f.loop, *f.unix_a, *f.unix_b)) == 2);
}

TEST_CASE("case 4: EMFILE on accept sheds pending clients, does not spin, and recovers") {
  netpoll::testing::raise_fd_limit();
  LoopThread lt;
  Result<Listener> ln = Listen(lt.loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  // Clients connect first (their descriptors exist), then the process runs out.
  std::vector<netpoll::testing::Fd> clients;
  for (int i = 0; i < 3; ++i) clients.emplace_back(raw_connect(ln->Addr()));
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  std::vector<netpoll::testing::Fd> hog;
  rlimit low = saved;
  low.rlim_cur = netpoll::testing::open_fd_count() + 4;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  for (;;) {
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) break;
    hog.emplace_back(fd);
  }
  // The pending clients are accepted with the reserve descriptor and closed (they see end of
  // stream); then Accept parks (here until its deadline) instead of spinning on EMFILE, which
  // Linux returns even for an empty queue.
  REQUIRE(!ln->SetDeadline(std::chrono::steady_clock::now() + 100ms));
  const auto stats_before = lt.loop.netpoll().backend().stats();
  Result<Conn> c = ln->Accept().wait();
  CHECK(c.error() == Errc::deadline_exceeded);
  const auto stats_after = lt.loop.netpoll().backend().stats();
  CHECK(stats_after.waits - stats_before.waits < 50);  // a handful of wakes, not a busy loop
  for (auto& cl : clients) {
    char b;
    CHECK(::recv(cl.get(), &b, 1, 0) <= 0);
  }
  // A client arriving while still out of descriptors is shed the same way.
  hog.pop_back();
  netpoll::testing::Fd extra(raw_connect(ln->Addr()));
  hog.emplace_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  REQUIRE(!ln->SetDeadline(std::chrono::steady_clock::now() + 100ms));
  CHECK(ln->Accept().wait().error() == Errc::deadline_exceeded);
  char eb;
  CHECK(::recv(extra.get(), &eb, 1, 0) <= 0);
  // Descriptors free up: accepting resumes.
  hog.clear();
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
  REQUIRE(!ln->SetDeadline(netpoll::net::TimePoint{}));
  netpoll::testing::Fd late(raw_connect(ln->Addr()));
  Result<Conn> ok = ln->Accept().wait();
  CHECK(ok);
}

TEST_CASE("self-connect is detected and retried with a fresh socket") {
  HookGuard guard;
  LoopThread lt;
  Result<Listener> ln = Listen(lt.loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  // Make the first connection look self-connected: its getsockname reports the peer.
  inject(1, 0);
  sys.getsockname = [](int fd, sockaddr* a, socklen_t* l) -> int {
    g_calls.fetch_add(1);
    if (g_fail_left.fetch_sub(1) > 0) return ::getpeername(fd, a, l);
    return ::getsockname(fd, a, l);
  };
  Result<Conn> c = Dial(lt.loop, "tcp", ln->Addr().to_string()).wait();
  REQUIRE(c);
  CHECK(c->RemoteAddr() == ln->Addr());
  Result<Conn> s1 = ln->Accept().wait();  // the discarded first connection
  Result<Conn> s2 = ln->Accept().wait();  // the retried one
  CHECK(s1);
  CHECK(s2);
}

TEST_CASE("listen backlog comes from somaxconn, capped") {
  const int b = listener_backlog();
  CHECK(b > 0);
  CHECK(b <= 65535);
}

TEST_CASE("case 8: fdMutex stress — concurrent locks, increfs and a close from many threads") {
  for (int round = 0; round < 20 * netpoll::testing::stress_scale(); ++round) {
    FdMutex mu;
    std::atomic<int> readers_in{0}, writers_in{0};
    std::atomic<bool> violated{false};
    std::atomic<int> destroys{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 6; ++t)
      ts.emplace_back([&, t] {
        ThreadWaiter w;
        for (int i = 0; i < 300; ++i) {
          const bool read = (t + i) % 2 == 0;
          if (t == 5 && i == 150 && mu.incref_and_close()) {
            if (mu.decref()) destroys.fetch_add(1);
            continue;
          }
          if (i % 3 == 0) {
            if (mu.incref() && mu.decref()) destroys.fetch_add(1);
            continue;
          }
          if (!mu.incref()) continue;  // a lock caller holds a reference, queued or not
          FdMutex::Lock l;
          while ((l = mu.rwlock(read, &w)) == FdMutex::Lock::queued) w.park();
          if (l == FdMutex::Lock::closed) {
            if (mu.decref()) destroys.fetch_add(1);
            continue;
          }
          auto& in = read ? readers_in : writers_in;
          if (in.fetch_add(1) != 0) violated = true;
          std::this_thread::yield();
          in.fetch_sub(1);
          if (mu.rwunlock(read)) destroys.fetch_add(1);
        }
      });
    for (auto& t : ts) t.join();
    CHECK(!violated.load());
    CHECK(mu.closed());
    CHECK(destroys.load() == 1);  // exactly one thread dropped the last reference
    CHECK(mu.refs() == 0);
  }
}

TEST_CASE("case 25: bad input gets a clear error, never a crash") {
  Loop loop;
  struct Bad {
    const char* net;
    const char* addr;
    std::error_code want;
  };
  const Bad bad[] = {
      {"tcp", "", AddrErrc::empty_address},
      {"tcp", "localhost", AddrErrc::missing_port},
      {"tcp", "127.0.0.1:99999", AddrErrc::invalid_port},
      {"tcp", "[::1", AddrErrc::missing_bracket},
      {"tcp", "::1:80", AddrErrc::too_many_colons},
      {"tcp7", "127.0.0.1:80", AddrErrc::unknown_network},
      {"", "127.0.0.1:80", AddrErrc::unknown_network},
      {"udp", "127.0.0.1:0", AddrErrc::wrong_network_for_call},
      {"tcp4", "[::1]:0", AddrErrc::no_suitable_address},
  };
  for (const Bad& b : bad) {
    CAPTURE(b.net);
    CAPTURE(b.addr);
    Result<Listener> l = Listen(loop, b.net, b.addr);
    REQUIRE(!l);
    CHECK(l.error() == b.want);
    CHECK(!l.error().message().empty());
  }
  CHECK(ListenPacket(loop, "tcp", "127.0.0.1:0").error() == AddrErrc::wrong_network_for_call);
  CHECK(loop.block_on(Dial(loop, "tcp", "127.0.0.1:99999")).error() == AddrErrc::invalid_port);
  CHECK(loop.block_on(Dial(loop, "tcp", "[::1")).error() == AddrErrc::missing_bracket);
  CHECK(loop.block_on(Dial(loop, "bogus", "a:1")).error() == AddrErrc::unknown_network);
  CHECK(loop.block_on(Dial(loop, "tcp", "127.0.0.1:1", -1s)).error() == Errc::deadline_exceeded);
  // An empty (default or moved-from) Conn: every call reports closed.
  Conn empty;
  char b[4];
  CHECK(empty.Read(std::span<char>(b)).wait().error() == Errc::closed);
  CHECK(empty.Write(std::string_view("x")).wait().error() == Errc::closed);
  CHECK(empty.Close() == Errc::closed);
  CHECK(empty.SetDeadline(std::chrono::steady_clock::now()) == Errc::closed);
  CHECK(empty.CloseWrite() == Errc::closed);
  Listener no_listener;
  CHECK(no_listener.Accept().wait().error() == Errc::closed);
  // FileConn on things that are not connections.
  CHECK(FileConn(loop, -1).error() == Errc::invalid_argument);
  netpoll::testing::Fd file(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  CHECK(FileConn(loop, file.get()).error() == std::errc::not_a_socket);
  Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  netpoll::testing::Fd lfd(::dup(ln->native_handle()));
  CHECK(FileConn(loop, lfd.get()).error() == std::errc::invalid_argument);
  // Zero-length buffers, huge and past deadlines on a live connection.
  LoopThread lt;
  Result<Listener> ln2 = Listen(lt.loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln2);
  auto p = pair(lt.loop, *ln2);
  Result<std::size_t> z = p.server.Read(std::span<char>()).wait();
  REQUIRE(z);
  CHECK(*z == 0);
  Result<std::size_t> zw = p.server.Write(std::string_view()).wait();
  REQUIRE(zw);
  CHECK(*zw == 0);
  CHECK(!p.server.SetDeadline(std::chrono::steady_clock::time_point::max()));
  CHECK(!p.server.SetDeadline(std::chrono::steady_clock::time_point::min() + 1ns));
  CHECK(p.server.Read(std::span<char>(b)).wait().error() == Errc::deadline_exceeded);
}

TEST_CASE("1,000 coroutines echo random sizes through 500 connections, byte for byte") {
  netpoll::testing::raise_fd_limit();
  Loop loop;
  Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  constexpr int kConns = 500;
  int verified = 0, failures = 0;
  // Server: one echo coroutine per accepted connection.
  loop.spawn([](Listener& l, Loop& lp) -> Task<void> {
    for (int i = 0; i < kConns; ++i) {
      Result<Conn> c = co_await l.Accept();
      if (!c) co_return;
      lp.spawn([](Conn c) -> Task<void> {
        std::vector<char> buf(4096);
        for (;;) {
          Result<std::size_t> n = co_await c.Read(std::span<char>(buf));
          if (!n || *n == 0) break;
          if (!co_await c.Write(std::as_bytes(std::span<char>(buf.data(), *n)))) break;
        }
      }(std::move(*c)));
    }
  }(*ln, loop));
  // Clients: per connection one writer and one reader coroutine (1,000 in all).
  std::vector<std::shared_ptr<Conn>> conns;
  for (int i = 0; i < kConns; ++i) {
    Result<Conn> c = loop.block_on(Dial(loop, "tcp", ln->Addr().to_string()));
    REQUIRE(c);
    conns.push_back(std::make_shared<Conn>(std::move(*c)));
  }
  std::mt19937 rng(42);
  for (int i = 0; i < kConns; ++i) {
    const std::size_t size = 1 + rng() % (i % 50 == 0 ? 400000 : 20000);
    auto data = std::make_shared<std::string>(size, '\0');
    for (char& ch : *data) ch = static_cast<char>(rng());
    loop.spawn([](std::shared_ptr<Conn> c, std::shared_ptr<std::string> d, unsigned seed) -> Task<void> {
      std::mt19937 r(seed);
      std::size_t off = 0;
      while (off < d->size()) {  // random-size pieces
        const std::size_t n = std::min<std::size_t>(d->size() - off, 1 + r() % 9000);
        if (!co_await c->Write(std::string_view(d->data() + off, n))) co_return;
        off += n;
      }
      (void)c->CloseWrite();
    }(conns[static_cast<std::size_t>(i)], data, static_cast<unsigned>(i)));
    loop.spawn([](std::shared_ptr<Conn> c, std::shared_ptr<std::string> d, int& ok, int& bad) -> Task<void> {
      std::string got;
      std::vector<char> buf(1 + d->size() % 7000);
      for (;;) {
        Result<std::size_t> n = co_await c->Read(std::span<char>(buf));
        if (!n || *n == 0) break;
        got.append(buf.data(), *n);
      }
      if (got == *d) ++ok;
      else ++bad;
    }(conns[static_cast<std::size_t>(i)], data, verified, failures));
  }
  const auto start = std::chrono::steady_clock::now();
  while (verified + failures < kConns && std::chrono::steady_clock::now() - start < 120s)
    loop.run_once(Timeout::after(100ms));
  CHECK(verified == kConns);
  CHECK(failures == 0);
  conns.clear();
  while (loop.spawned() > 0 && std::chrono::steady_clock::now() - start < 120s)
    loop.run_once(Timeout::after(100ms));
  CHECK(loop.spawned() == 0);
}

TEST_CASE("unix sockets: stream Listen/Dial/Accept, the socket file goes with Close; unixgram") {
  Loop loop;
  const netpoll::testing::TempDir dir("netpoll-unix");
  const std::string path = dir.file("s.sock");
  {
    Result<Listener> ln = Listen(loop, "unix", path);
    REQUIRE(ln);
    CHECK(ln->Addr().to_string() == path);
    CHECK(::access(path.c_str(), F_OK) == 0);
    loop.block_on([&]() -> Task<void> {
      Result<Conn> c = co_await Dial(loop, "unix", path);
      REQUIRE(c);
      Result<Conn> s = co_await ln->Accept();
      REQUIRE(s);
      CHECK(c->RemoteAddr().to_string() == path);
      REQUIRE(co_await c->Write(std::string_view("over unix")));
      REQUIRE(!c->CloseWrite());
      std::string got;
      char b[32];
      for (;;) {
        Result<std::size_t> n = co_await s->Read(std::span<char>(b));
        REQUIRE(n);
        if (*n == 0) break;
        got.append(b, *n);
      }
      CHECK(got == "over unix");
    }());
    // A second listener on the same live path fails with EADDRINUSE, naming the problem.
    CHECK(Listen(loop, "unix", path).error() == std::errc::address_in_use);
    REQUIRE(!ln->Close());
    CHECK(::access(path.c_str(), F_OK) != 0);  // unlinked on Close
  }
  // Abstract namespace (Linux): no file at all.
  Result<Listener> abs = Listen(loop, "unix", "@netpoll-test-" + std::to_string(::getpid()));
  REQUIRE(abs);
  CHECK(abs->Addr().to_string().rfind("@netpoll-test-", 0) == 0);
  // unixgram: datagrams between two bound sockets.
  const std::string pa = dir.file("a"), pb = dir.file("b");
  Result<PacketConn> a = ListenPacket(loop, "unixgram", pa);
  Result<PacketConn> b = ListenPacket(loop, "unixgram", pb);
  REQUIRE(a);
  REQUIRE(b);
  loop.block_on([&]() -> Task<void> {
    REQUIRE(co_await a->WriteTo(as_bytes(std::string_view("dgram")), b->LocalAddr()));
    char buf[16];
    Result<Datagram> d = co_await b->ReadFrom(std::as_writable_bytes(std::span<char>(buf)));
    REQUIRE(d);
    CHECK(std::string(buf, d->size) == "dgram");
    CHECK(d->from.to_string() == pa);
  }());
  a->Close();
  b->Close();
  ::unlink(pa.c_str());
  ::unlink(pb.c_str());
  CHECK(Listen(loop, "unix", std::string(200, 'x')).error() == Errc::invalid_argument);
}

TEST_CASE("names are resolved with getaddrinfo off the Loop thread") {
  // A name other than "localhost" that the hosts file maps to 127.0.0.1, if there is one.
  std::string name;
  if (std::FILE* f = std::fopen("/etc/hosts", "re")) {
    char line[512];
    while (!name.size() && std::fgets(line, sizeof line, f)) {
      char ip[64], host[256];
      if (std::sscanf(line, "%63s %255s", ip, host) == 2 && std::string(ip) == "127.0.0.1" &&
          std::string(host) != "localhost")
        name = host;
    }
    std::fclose(f);
  }
  if (name.empty()) {
    MESSAGE("no extra 127.0.0.1 name in /etc/hosts; skipping");
    return;
  }
  Loop loop;
  Result<Listener> ln = Listen(loop, "tcp4", "127.0.0.1:0");
  REQUIRE(ln);
  const std::string addr = name + ":" + std::to_string(ln->Addr().port());
  std::thread::id loop_thread;
  bool ticked = false;
  Result<Conn> c = loop.block_on([&]() -> Task<Result<Conn>> {
    loop_thread = std::this_thread::get_id();
    // The Loop keeps running other coroutines while the lookup is in flight.
    loop.spawn([](bool& t) -> Task<void> { t = true; co_return; }(ticked));
    co_return co_await Dial(loop, "tcp4", addr);
  }());
  REQUIRE(c);
  CHECK(ticked);
  CHECK(c->RemoteAddr() == ln->Addr());
  // Service names work through the same path; unknown names give a resolver error.
  Result<std::vector<SockAddr>> http = ResolveAddrs("tcp", "127.0.0.1:http");
  if (http) CHECK(http->front().port() == 80);
  Result<Conn> bad = loop.block_on(Dial(loop, "tcp", "no-such-host.invalid:80"));
  REQUIRE(!bad);
  CHECK(std::string(bad.error().category().name()) == "netpoll.resolve");
}

TEST_CASE("default socket options: TCP_NODELAY, SO_REUSEADDR, SO_BROADCAST, IPV6_V6ONLY") {
  Loop loop;
  auto opt = [](int fd, int level, int name) {
    int v = -1;
    socklen_t len = sizeof v;
    REQUIRE(::getsockopt(fd, level, name, &v, &len) == 0);
    return v;
  };
  Result<Listener> ln = Listen(loop, "tcp4", "127.0.0.1:0");
  REQUIRE(ln);
  CHECK(opt(ln->native_handle(), SOL_SOCKET, SO_REUSEADDR) != 0);
  loop.block_on([&]() -> Task<void> {
    Result<Conn> c = co_await Dial(loop, "tcp", ln->Addr().to_string());
    REQUIRE(c);
    Result<Conn> s = co_await ln->Accept();
    REQUIRE(s);
    CHECK(opt(c->native_handle(), IPPROTO_TCP, TCP_NODELAY) != 0);
    CHECK(opt(s->native_handle(), IPPROTO_TCP, TCP_NODELAY) != 0);
    REQUIRE(!c->SetNoDelay(false));
    CHECK(opt(c->native_handle(), IPPROTO_TCP, TCP_NODELAY) == 0);
  }());
  Result<PacketConn> u = ListenPacket(loop, "udp4", "127.0.0.1:0");
  REQUIRE(u);
  CHECK(opt(u->native_handle(), SOL_SOCKET, SO_BROADCAST) != 0);
  if (Result<Listener> dual = Listen(loop, "tcp", ":0")) {
    CHECK(opt(dual->native_handle(), IPPROTO_IPV6, IPV6_V6ONLY) == 0);
    Result<Listener> only6 = Listen(loop, "tcp6", "[::]:0");
    REQUIRE(only6);
    CHECK(opt(only6->native_handle(), IPPROTO_IPV6, IPV6_V6ONLY) != 0);
  }
}

TEST_CASE("CloseRead: the next Read sees end of stream while writing goes on") {
  LoopThread lt;
  Result<Listener> ln = Listen(lt.loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  auto p = pair(lt.loop, *ln);
  REQUIRE(!p.server.CloseRead());
  char b[8];
  Result<std::size_t> n = p.server.Read(std::span<char>(b)).wait();
  REQUIRE(n);
  CHECK(*n == 0);
  REQUIRE(p.server.Write(std::string_view("still")).wait());
  Result<std::size_t> m = p.client.Read(std::span<char>(b)).wait();
  REQUIRE(m);
  CHECK(std::string(b, *m) == "still");
}

}  // TEST_SUITE
