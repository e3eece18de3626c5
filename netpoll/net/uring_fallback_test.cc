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
