// The Backend conformance suite: written once against netpoll/contract/backend.h, instantiated for every
// backend built on this target (test/backend_list.h). Cases refer to docs/testing.md numbers.
//
// Not built for Windows (POSIX_ONLY): these are the readiness half of the contract, over POSIX
// descriptors (socketpairs, signals, close-on-exec, RLIMIT_NOFILE). A completion port reports
// no readiness; IOCP's counterparts (a packet per completed operation, none for an immediate
// success, aborted packets after CancelIoEx / closesocket, foreign packets, bad input, 5,000
// idle sockets) are in netpoll/backends/iocp/iocp_poller_test.cc, and the portable half of this
// contract is test/poller_contract_test.cc, which runs on IOCP.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <limits>
#include <thread>
#include <vector>

#include "doctest/doctest.h"
#include "netpoll/contract/backend.h"
#include "netpoll/contract/error.h"
#include "test/backend_list.h"
#include "test/test_util.h"

using namespace std::chrono_literals;
using netpoll::Errc;
using netpoll::Event;
using netpoll::Timeout;
using netpoll::Token;
using namespace netpoll::testing;


namespace {

constexpr Token kA{101}, kB{202};

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("poller: the kernel object is a close-on-exec descriptor", B,
                          poller_cloexec) {
  B b;
  CHECK(b.native_handle() >= 0);
  // The kernel object must not leak into exec'd children (docs/pitfalls.md 5).
  CHECK((fcntl(b.native_handle(), F_GETFD) & FD_CLOEXEC) != 0);
}
TEST_CASE_TEMPLATE_APPLY(poller_cloexec, ReadinessBackends);

TEST_CASE_TEMPLATE_DEFINE("poller: one event per edge, none repeated without new data", B,
                          poller_edge) {
  B b;
  Pair p = unix_pair();
  REQUIRE(!b.register_handle(p.b.get(), kA));
  // Registration reports the initial writability once.
  auto evs = collect_until(b, [](auto& v) { return !v.empty(); }, 2s);
  CHECK((flags_for(evs, kA) & Event::kWritable) != 0);
  CHECK(collect_for(b, 30ms).empty());

  write_all(p.a.get(), "hello");
  int count = 0;
  evs = collect_until(b, [](auto& v) { return !v.empty(); }, 2s);
  CHECK((flags_for(evs, kA, &count) & Event::kReadable) != 0);
  CHECK(count == 1);
  // Case 15: data left unread does not make the poller report it again (no busy loop).
  CHECK(collect_for(b, 50ms).empty());
  // A new edge (more data) is reported even though the old data is still unread.
  write_all(p.a.get(), "again");
  evs = collect_until(b, [](auto& v) { return !v.empty(); }, 2s);
  CHECK((flags_for(evs, kA) & Event::kReadable) != 0);
  CHECK(drain(p.b.get()) == "helloagain");
  CHECK(collect_for(b, 30ms).empty());
  CHECK(!b.deregister_handle(p.b.get()));
}
TEST_CASE_TEMPLATE_APPLY(poller_edge, ReadinessBackends);

TEST_CASE_TEMPLATE_DEFINE("poller: hangup and error flags", B, poller_hangup) {
  B b;
  SUBCASE("peer shutdown(SHUT_WR) reports read hangup, once") {
    Pair p = tcp_pair();
    REQUIRE(!b.register_handle(p.b.get(), kA));
    collect_for(b, 20ms);
    REQUIRE(shutdown(p.a.get(), SHUT_WR) == 0);
    auto evs = collect_until(b, [](auto& v) { return !v.empty(); }, 2s);
    const auto f = flags_for(evs, kA);
    CHECK((f & Event::kReadHangup) != 0);
    CHECK((f & Event::kError) == 0);
    Event e{kA, f, 0};
    CHECK(e.wakes_reader());
    // Case 15: the hangup stays pending (unread EOF) without being reported again.
    CHECK(collect_for(b, 50ms).empty());
  }
  SUBCASE("peer close reports read hangup") {
    Pair p = unix_pair();
    REQUIRE(!b.register_handle(p.b.get(), kA));
    collect_for(b, 20ms);
    p.a.reset();
    auto evs = collect_until(b, [](auto& v) { return !v.empty(); }, 2s);
    const auto f = flags_for(evs, kA);
    CHECK((f & (Event::kReadHangup | Event::kHangup)) != 0);
    CHECK(Event{kA, f, 0}.wakes_reader());
    CHECK(Event{kA, f, 0}.wakes_writer());
    CHECK(collect_for(b, 50ms).empty());
  }
  SUBCASE("peer RST reports error") {
    Pair p = tcp_pair();
    REQUIRE(!b.register_handle(p.b.get(), kA));
    collect_for(b, 20ms);
    close_with_reset(p.a);
    auto evs = collect_until(b, [](auto& v) { return !v.empty(); }, 2s);
    const auto f = flags_for(evs, kA);
    CHECK((f & Event::kError) != 0);
    CHECK((f & Event::kHangup) != 0);
    int err = 0;
    socklen_t len = sizeof err;
    REQUIRE(getsockopt(p.b.get(), SOL_SOCKET, SO_ERROR, &err, &len) == 0);
    CHECK(err == ECONNRESET);
  }
}
TEST_CASE_TEMPLATE_APPLY(poller_hangup, ReadinessBackends);

namespace {
void on_sigusr1(int) {}
}  // namespace

TEST_CASE_TEMPLATE_DEFINE("poller: a signal interrupts wait with an empty batch (case 6)", B,
                          poller_eintr) {
  struct sigaction sa {};
  sa.sa_handler = &on_sigusr1;  // no SA_RESTART; epoll_wait is never restarted anyway
  sigemptyset(&sa.sa_mask);
  struct sigaction old {};
  REQUIRE(sigaction(SIGUSR1, &sa, &old) == 0);
  B b;
  std::atomic<bool> returned{false};
  std::size_t got = 99;
  bool ok = false;
  std::thread waiter([&] {
    Event buf[4];
    auto n = b.wait(std::span<Event>(buf), Timeout::infinite());
    ok = n.ok();
    got = n.ok() ? *n : 99;
    returned.store(true);
  });
  const pthread_t h = waiter.native_handle();
  // Signal until the wait returns; nothing else could end an infinite wait here.
  for (int i = 0; i < 2000 && !returned.load(); ++i) {
    pthread_kill(h, SIGUSR1);
    std::this_thread::sleep_for(5ms);
  }
  if (!returned.load()) b.wake();  // do not hang the suite; the CHECKs below fail instead
  waiter.join();
  CHECK(ok);
  CHECK(got == 0);
  CHECK(b.stats().wake_signals == 0);  // it was the signal, not a wake
  sigaction(SIGUSR1, &old, nullptr);
}
TEST_CASE_TEMPLATE_APPLY(poller_eintr, ReadinessBackends);

TEST_CASE_TEMPLATE_DEFINE("poller: no events after deregister; register again (case 22)", B,
                          poller_dereg) {
  B b;
  Pair p = unix_pair();
  REQUIRE(!b.register_handle(p.b.get(), kA));
  collect_for(b, 20ms);
  REQUIRE(!b.deregister_handle(p.b.get()));
  write_all(p.a.get(), "x");
  CHECK(collect_for(b, 50ms).empty());
  // Registering again, with another token, delivers the pending data under the new token.
  REQUIRE(!b.register_handle(p.b.get(), kB));
  auto evs = collect_until(b, [](auto& v) { return !v.empty(); }, 2s);
  CHECK((flags_for(evs, kB) & Event::kReadable) != 0);
  CHECK(flags_for(evs, kA) == 0);
  const auto s = b.stats();
  CHECK(s.registrations == 2);
  CHECK(s.deregistrations == 1);
}
TEST_CASE_TEMPLATE_APPLY(poller_dereg, ReadinessBackends);

TEST_CASE_TEMPLATE_DEFINE("poller: close and reuse of a descriptor number (case 1, backend)", B,
                          poller_reuse) {
  B b;
  Pair p = unix_pair();
  const int num = p.b.get();
  REQUIRE(!b.register_handle(num, kA));
  collect_for(b, 20ms);
  write_all(p.a.get(), "stale");
  // Deregister and close, then reuse the number for a new socket registered under kB.
  REQUIRE(!b.deregister_handle(num));
  p.b.reset();
  Pair q = unix_pair();
  if (q.a.get() != num) {
    // Make the new socket take the old number.
    REQUIRE(dup2(q.a.get(), num) == num);
    q.a.reset(num);
  }
  REQUIRE(!b.register_handle(num, kB));
  auto evs = collect_for(b, 50ms);
  CHECK(flags_for(evs, kA) == 0);  // nothing for the old owner
  CHECK((flags_for(evs, kB) & Event::kReadable) == 0);  // the new socket has no data
}
TEST_CASE_TEMPLATE_APPLY(poller_reuse, ReadinessBackends);

TEST_CASE_TEMPLATE_DEFINE("poller: 10,000 idle registered sockets + 1 active", B, poller_many) {
  const std::size_t limit = raise_fd_limit();
  constexpr std::size_t kIdle = 10000;
  REQUIRE_MESSAGE(limit >= kIdle + 200, "needs RLIMIT_NOFILE >= 10,200");
  B b;
  std::vector<Pair> idle;
  idle.reserve(kIdle / 2);
  for (std::size_t i = 0; i < kIdle / 2; ++i) {
    idle.push_back(unix_pair());
    REQUIRE(!b.register_handle(idle.back().a.get(), Token{1000 + 2 * i}));
    REQUIRE(!b.register_handle(idle.back().b.get(), Token{1001 + 2 * i}));
  }
  // Drain the initial writability of all 10,000.
  std::size_t initial = 0;
  Event buf[128];
  for (;;) {
    auto n = b.wait(std::span<Event>(buf), Timeout::after(50ms));
    REQUIRE(n.ok());
    if (*n == 0) break;
    initial += *n;
  }
  CHECK(initial == kIdle);
  Pair active = unix_pair();
  REQUIRE(!b.register_handle(active.b.get(), kA));
  collect_for(b, 10ms);
  for (int round = 0; round < 20; ++round) {
    write_all(active.a.get(), "ping");
    auto evs = collect_until(b, [](auto& v) { return !v.empty(); }, 2s);
    REQUIRE(evs.size() == 1);
    CHECK(evs[0].token == kA);
    CHECK(evs[0].has(Event::kReadable));
    CHECK(drain(active.b.get()) == "ping");
  }
}
TEST_CASE_TEMPLATE_APPLY(poller_many, ReadinessBackends);

TEST_CASE_TEMPLATE_DEFINE("poller: bad input gets a clear error, never a crash (case 25)", B,
                          poller_bad_input) {
  B b;
  Event buf[4];
  Pair p = unix_pair();
  SUBCASE("handle -1") {
    CHECK(b.register_handle(-1, kA) == std::errc::bad_file_descriptor);
    CHECK(b.deregister_handle(-1) == std::errc::bad_file_descriptor);
  }
  SUBCASE("closed descriptor") {
    const int fd = p.a.release();
    ::close(fd);
    CHECK(b.register_handle(fd, kA) == std::errc::bad_file_descriptor);
  }
  SUBCASE("regular file is not pollable") {
    char path[] = "/tmp/netpoll-conformance-XXXXXX";
    Fd f(mkstemp(path));
    REQUIRE(f.get() >= 0);
    unlink(path);
    const std::error_code ec = b.register_handle(f.get(), kA);
    CHECK(ec == Errc::not_pollable);
    CHECK(ec.message().find("not pollable") != std::string::npos);
  }
  SUBCASE("double register") {
    REQUIRE(!b.register_handle(p.a.get(), kA));
    CHECK(b.register_handle(p.a.get(), kB) == Errc::already_registered);
  }
  SUBCASE("deregister of an unknown descriptor") {
    CHECK(b.deregister_handle(p.a.get()) == Errc::not_registered);
  }
  SUBCASE("the reserved token") {
    CHECK(b.register_handle(p.a.get(), Token{Token::kReserved}) == Errc::invalid_argument);
  }
  SUBCASE("the poller's own kernel object") {
    CHECK(b.register_handle(b.native_handle(), kA) == Errc::invalid_argument);
  }
  SUBCASE("empty event span") {
    auto r = b.wait(std::span<Event>(), Timeout::zero());
    CHECK(!r.ok());
    CHECK(r.error() == Errc::invalid_argument);
    r = b.wait(std::span<Event>(), Timeout::infinite());  // must not block either
    CHECK(r.error() == Errc::invalid_argument);
  }
  SUBCASE("a one-element span still works") {
    REQUIRE(!b.register_handle(p.a.get(), kA));
    REQUIRE(!b.register_handle(p.b.get(), kB));
    auto r1 = b.wait(std::span<Event>(buf, 1), Timeout::after(1s));
    REQUIRE(r1.ok());
    CHECK(*r1 == 1);
    auto r2 = b.wait(std::span<Event>(buf + 1, 1), Timeout::after(1s));
    REQUIRE(r2.ok());
    CHECK(*r2 == 1);
    CHECK(buf[0].token != buf[1].token);  // the second registration was not lost
  }
}
TEST_CASE_TEMPLATE_APPLY(poller_bad_input, ReadinessBackends);

TEST_CASE_TEMPLATE_DEFINE("poller: construction fails cleanly when out of descriptors", B,
                          poller_emfile) {
  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
  // Use up every descriptor below a tiny limit, then try to create a poller.
  std::vector<Fd> hog;
  rlimit low = old;
  low.rlim_cur = open_fd_count() + 8;
  REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
  for (;;) {
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) break;
    hog.emplace_back(fd);
  }
  CHECK(errno == EMFILE);
  bool threw = false;
  std::error_code code;
  try {
    B b;
  } catch (const std::system_error& e) {
    threw = true;
    code = e.code();
  }
  hog.clear();
  CHECK(threw);
  CHECK(code == std::errc::too_many_files_open);
  REQUIRE(setrlimit(RLIMIT_NOFILE, &old) == 0);
  B ok;  // and works again once descriptors are free
  CHECK(ok.native_handle() >= 0);
}
TEST_CASE_TEMPLATE_APPLY(poller_emfile, ReadinessBackends);
