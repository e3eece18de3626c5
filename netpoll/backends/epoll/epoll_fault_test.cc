// Faults in the epoll backend's own syscall, through the whole net path: epoll_ctl refusing a
// registration (ENOSPC once fs.epoll.max_user_watches is reached, ENOMEM) wherever the net
// layer registers a socket, and refusing a deregistration at Close. The operation reports the
// errno, the socket is closed, nothing leaks (descriptors, PollDescs), and the listener or Loop
// goes on working. (netpoll/net/fault_injection_posix_test.cc covers the net layer's own syscalls.)
#include <doctest/doctest.h>

#include <fcntl.h>

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <ostream>
#include <string>

#include "netpoll/backends/epoll/epoll_poller.h"
#include "netpoll/net/net.h"
#include "test/net_test_util.h"
#include "test/test_util.h"

using namespace netpoll;
using namespace netpoll::net;
using namespace std::chrono_literals;
using netpoll::testing::ConnPair;

namespace {

// Fails the next epoll_ctl of `op` with `err`, once; every other call goes to the kernel.
struct CtlFault {
  static inline int op = 0;
  static inline int err = 0;
  static inline int fired = 0;
  static int fn(int epfd, int o, int fd, epoll_event* ev) {
    if (err && o == op) {
      errno = err;
      err = 0;
      ++fired;
      return -1;
    }
    return ::epoll_ctl(epfd, o, fd, ev);
  }
};

// Arms one failure for the duration of a scope and restores the kernel's epoll_ctl after.
class Inject {
 public:
  Inject(int op, int err) {
    CtlFault::op = op;
    CtlFault::err = err;
    CtlFault::fired = 0;
    epoll_ctl_fn = &CtlFault::fn;
  }
  Inject(const Inject&) = delete;
  Inject& operator=(const Inject&) = delete;
  ~Inject() {
    CtlFault::err = 0;
    epoll_ctl_fn = &::epoll_ctl;
  }
  bool fired() const { return CtlFault::fired == 1; }
};

}  // namespace

TEST_CASE("epoll_ctl ADD refused (ENOSPC, ENOMEM) wherever the net layer registers a socket") {
  for (const int err : {ENOSPC, ENOMEM}) {
    CAPTURE(err);
    const std::error_code want = errno_code(err);
    Loop loop;
    (void)Listen(loop, "tcp", "127.0.0.1:0");  // the net layer's one-time setup (EMFILE reserve)
    const std::size_t fds = netpoll::testing::open_fd_count();
    {
      Inject f(EPOLL_CTL_ADD, err);
      CHECK(Listen(loop, "tcp", "127.0.0.1:0").error() == want);
      CHECK(f.fired());
    }
    {
      Inject f(EPOLL_CTL_ADD, err);
      CHECK(ListenPacket(loop, "udp", "127.0.0.1:0").error() == want);
      CHECK(f.fired());
    }
    Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
    REQUIRE(ln);
    {
      Inject f(EPOLL_CTL_ADD, err);
      CHECK(loop.block_on(Dial(loop, "tcp", ln->Addr().to_string())).error() == want);
      CHECK(f.fired());
    }
    {
      // The client connects; registering the accepted socket fails: Accept reports it and the
      // accepted socket is closed (the client reads end of stream).
      Result<Conn> c = loop.block_on(Dial(loop, "tcp", ln->Addr().to_string()));
      REQUIRE(c);
      {
        Inject f(EPOLL_CTL_ADD, err);
        Result<Conn> s = loop.block_on([&]() -> Task<Result<Conn>> { co_return co_await ln->Accept(); }());
        CHECK(s.error() == want);
        CHECK(f.fired());
      }
      char b[4];
      Result<std::size_t> n = loop.block_on([&]() -> Task<Result<std::size_t>> {
        co_return co_await c->Read(std::span<char>(b));
      }());
      CHECK((!n || *n == 0));
    }
    {
      // FileConn: the caller's socket stays open and the caller's on a registration error
      // (documented), so the caller closes it.
      int sv[2];
      REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
      netpoll::testing::Fd peer(sv[1]);
      netpoll::testing::Fd mine(sv[0]);
      Inject f(EPOLL_CTL_ADD, err);
      CHECK(FileConn(loop, sv[0]).error() == want);
      CHECK(f.fired());
      CHECK(::fcntl(sv[0], F_GETFD) != -1);
    }
    // The listener still accepts.
    ConnPair p = loop.block_on(netpoll::testing::tcp_conn_pair(loop, *ln));
    REQUIRE(p.client.valid());
    REQUIRE(p.server.valid());
    p = ConnPair{};
    (void)ln->Close();
    loop.run_once(Timeout::zero());
    CHECK(loop.netpoll().cache().in_use() == 0);
    CHECK(netpoll::testing::open_fd_count() == fds);
  }
}

TEST_CASE("epoll_ctl DEL refused at Close: the socket still closes and its PollDesc is freed") {
  for (const int err : {ENOMEM, EBADF}) {
    CAPTURE(err);
    Loop loop;
    Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");  // opens the EMFILE reserve once
    REQUIRE(ln);
    const std::size_t fds = netpoll::testing::open_fd_count() - 1;  // the listener's socket
    ConnPair p = loop.block_on(netpoll::testing::tcp_conn_pair(loop, *ln));
    {
      Inject f(EPOLL_CTL_DEL, err);
      CHECK(!p.server.Close());  // Close itself succeeds; the deregistration error is the core's
      loop.run_once(Timeout::zero());
      CHECK(f.fired());
    }
    char b[4];
    Result<std::size_t> n = loop.block_on([&]() -> Task<Result<std::size_t>> {
      co_return co_await p.client.Read(std::span<char>(b));
    }());
    CHECK((n && *n == 0));  // the server's socket really closed: end of stream
    p = ConnPair{};
    (void)ln->Close();
    loop.run_once(Timeout::zero());
    CHECK(loop.netpoll().cache().in_use() == 0);
    CHECK(netpoll::testing::open_fd_count() == fds);
  }
}
