// The io_uring build (--config=uring) where the kernel refuses io_uring: the Loop falls back to
// epoll when it is made and the whole net layer works on it (a seccomp filter refuses
// io_uring_setup in a forked child, as container runtimes' default profiles do). Where it is
// allowed, the Loop runs on io_uring.
#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string_view>

#include "doctest/doctest.h"
#include "netpoll/net/net.h"
#include "test/net_test_util.h"
#include "test/seccomp_refuse.h"

using namespace netpoll;
using namespace netpoll::net;

namespace {

// Echo over one loopback connection on `loop`: true if the bytes came back.
bool echoes(Loop& loop) {
  Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
  if (!ln) return false;
  return loop.block_on([](Loop& l, Listener& ln) -> Task<bool> {
    testing::ConnPair p = co_await testing::tcp_conn_pair(l, ln);
    const std::string_view msg = "over whichever backend";
    Result<std::size_t> w = co_await p.client.Write(msg);
    if (!w || *w != msg.size()) co_return false;
    char buf[64];
    Result<std::size_t> r = co_await p.server.Read(std::span<char>(buf, msg.size()));
    if (!r || *r != msg.size()) co_return false;
    Result<std::size_t> back = co_await p.server.Write(std::string_view(buf, *r));
    if (!back) co_return false;
    Result<std::size_t> got = co_await p.client.Read(std::span<char>(buf, sizeof buf));
    co_return got && std::string_view(buf, *got) == msg;
  }(loop, *ln));
}

}  // namespace

TEST_CASE("io_uring build: a Loop runs on io_uring where the kernel allows it") {
  Loop loop;
  MESSAGE("backend: " << loop.backend_name());
  if (loop.netpoll().backend().ring_refusal())
    MESSAGE("io_uring refused here: " << loop.netpoll().backend().ring_refusal().message());
  else
    CHECK(loop.backend_name() == "io_uring");
  CHECK(echoes(loop));
}

TEST_CASE("io_uring build: io_uring_setup refused -> the Loop falls back to epoll and works") {
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (!testing::refuse_syscall(SYS_io_uring_setup, EPERM)) _exit(90);
    Loop loop;
    if (loop.backend_name() != "epoll") _exit(1);
    if (loop.netpoll().backend().ring_refusal() != std::error_code(EPERM, std::generic_category()))
      _exit(2);
    if (!echoes(loop)) _exit(3);
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

// A cancel by descriptor matches the open file, which dups share: closing one Conn on the
// Loop's thread cancelled the pending Read of a FileConn made from a dup of its socket, which
// then failed with closed while its socket was open (found in review). It makes its call again.
TEST_CASE("io_uring build: closing a Conn leaves a FileConn on a dup of its socket reading") {
  Loop loop;
  if (loop.backend_name() != "io_uring") {
    MESSAGE("io_uring refused here: nothing to check");
    return;
  }
  Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  testing::ConnPair p = loop.block_on(testing::tcp_conn_pair(loop, *ln));
  const int dupfd = ::dup(p.server.native_handle());
  REQUIRE(dupfd >= 0);
  Result<Conn> copy = FileConn(loop, dupfd);  // owns the dup from here
  REQUIRE(copy);
  Result<std::size_t> got = std::error_code(Errc::invalid_argument);
  char buf[8];
  loop.spawn([](Conn& c, char* b, Result<std::size_t>& out) -> Task<void> {
    out = co_await c.Read(std::span<char>(b, 8));
  }(*copy, buf, got));
  // The closing Conn has a Read in the kernel too, so its Close cancels by descriptor.
  Result<std::size_t> own = std::size_t{0};
  char own_buf[8];
  loop.spawn([](Conn& c, char* b, Result<std::size_t>& out) -> Task<void> {
    out = co_await c.Read(std::span<char>(b, 8));
  }(p.server, own_buf, own));
  loop.run_once(Timeout::zero());  // the Reads' calls are in the kernel
  loop.run_once(Timeout::zero());
  loop.block_on([](Conn& server, Conn& client) -> Task<void> {
    CHECK(!server.Close());  // on the polling thread: cancels every call on the open file
    CHECK(co_await client.Write(std::string_view("x")));
  }(p.server, p.client));
  while (loop.spawned() > 0) loop.run_once(Timeout::after(std::chrono::milliseconds(100)));
  CHECK(own.error() == Errc::closed);
  REQUIRE(got);
  CHECK(*got == 1);
  CHECK(buf[0] == 'x');
}
