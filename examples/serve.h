// What both example servers share: parse the command line, listen, print the address, accept
// with one coroutine per connection, and shut down cleanly on SIGTERM / SIGINT.
//
//   int main(int argc, char** argv) {
//     return netpoll::examples::run_server("echo_server", argc, argv,
//                                          [](Conn& c) { return echo(c); });
//   }
//
// Everything runs on one Loop on the main thread. Shutdown leaves nothing behind: the signal
// (a handler writes it into a self-pipe, which a coroutine reads, so the handler does nothing
// else and there is no extra thread) closes the listener and every open connection, their
// coroutines unwind with Errc::closed, and run_server returns only after the last of them has
// ended. So a suspended coroutine frame is never leaked (ASan's leak check at exit would
// report it).
#pragma once

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "netpoll/net/loop_group.h"
#include "netpoll/net/net.h"

namespace netpoll::examples {

// Returns a nonblocking, close-on-exec descriptor that becomes readable when SIGINT or SIGTERM
// arrives: each signal is one byte (its number) on a self-pipe. The first call makes the pipe,
// installs the handler for both signals (sigaction; it only writes that byte) and unblocks
// them in the calling thread (a mask inherited from the parent would otherwise keep them from
// ever arriving); every call returns a new descriptor for the pipe's read end, which the
// caller owns. Plain POSIX, so the servers shut down the same way on every POSIX system.
Result<int> termination_pipe() noexcept;

// The coroutines a server runs (its accept loop and one per connection) and the socket each
// one owns, so that shutdown can close them all and then wait until every one has ended.
//
// Single-threaded: used only on the Loop thread. Slots are counted from the moment a
// coroutine is spawned (reserve()), not from when it first runs: a spawned coroutine whose
// first step is still queued must keep the server alive, or its frame would outlive the Loop.
class ConnSet {
 public:
  explicit ConnSet(net::Loop& loop) noexcept : loop_(&loop), resume_(&loop) {}
  ConnSet(const ConnSet&) = delete;
  ConnSet& operator=(const ConnSet&) = delete;

  // Takes a slot for a coroutine about to be spawned; its Member releases it.
  void reserve() noexcept { ++slots_; }
  std::size_t slots() const noexcept { return slots_; }
  bool closing() const noexcept { return closing_; }

  // Lives in the coroutine's frame for the whole coroutine: adopts a slot taken by
  // reserve(), makes `sock` reachable by close_all(), and releases the slot when destroyed.
  // A Member created after close_all() closes its socket at once, so the coroutine's first
  // operation fails with Errc::closed.
  class Member {
   public:
    Member(ConnSet& set, net::Socket* sock) noexcept;
    ~Member();
    Member(const Member&) = delete;
    Member& operator=(const Member&) = delete;

   private:
    friend class ConnSet;
    ConnSet* set_;
    net::Socket* sock_;
    Member* prev_ = nullptr;
    Member* next_ = nullptr;
  };

  // Closes every member's socket. Close never runs a coroutine inline (the woken operations
  // are queued on the Loop), so no Member unlinks itself during the walk.
  void close_all() noexcept;

  // `co_await set.all_ended()`: resumes (from the Loop's queue) once every slot is released.
  // One awaiter at a time.
  auto all_ended() noexcept {
    struct Awaiter {
      ConnSet* set;
      bool await_ready() const noexcept { return set->slots_ == 0; }
      void await_suspend(std::coroutine_handle<> h) noexcept { set->resume_.h = h; }
      void await_resume() const noexcept {}
    };
    return Awaiter{this};
  }

 private:
  struct Resume final : net::LoopTask {
    explicit Resume(net::Loop* loop) noexcept : LoopTask(&go, loop) {}
    static void go(net::LoopTask* t) noexcept {
      std::exchange(static_cast<Resume*>(t)->h, {}).resume();
    }
    std::coroutine_handle<> h;
  };

  net::Loop* loop_;
  Member* head_ = nullptr;
  std::size_t slots_ = 0;
  bool closing_ = false;
  Resume resume_;
};

namespace detail {

template <class Handler>
net::Task<void> run_conn(ConnSet& set, net::Conn c, Handler& handler) {
  ConnSet::Member member(set, &c);
  co_await handler(c);
}  // `member` releases the slot; `c` (a parameter, destroyed with the frame) closes the socket

template <class Handler>
net::Task<void> accept_loop(net::Loop& loop, net::Listener& ln, ConnSet& set, Handler& handler,
                            const char* prog) {
  ConnSet::Member member(set, &ln);
  for (;;) {
    Result<net::Conn> c = co_await ln.Accept();
    // An accept that completed in the same Loop step as the shutdown: drop the connection
    // (its destructor closes it) instead of starting a coroutine nobody will close.
    if (set.closing()) break;
    if (!c) {
      if (c.error() == Errc::closed) break;
      // EMFILE and friends: the net layer has already shed the pending clients, so this does
      // not spin; the pause only keeps a persistent error from flooding the log.
      std::fprintf(stderr, "%s: accept: %s\n", prog, c.error().message().c_str());
      co_await net::sleep_for(loop, std::chrono::milliseconds(10));
      continue;
    }
    set.reserve();
    loop.spawn(run_conn(set, std::move(*c), handler));
  }
}

template <class Handler>
net::Task<void> serve(net::Loop& loop, net::Listener& ln, net::Conn& signals, Handler& handler,
                      const char* prog) {
  ConnSet set(loop);
  set.reserve();
  loop.spawn(accept_loop(loop, ln, set, handler, prog));
  unsigned char signo = 0;  // termination_pipe: one byte per signal, its number
  Result<std::size_t> n = co_await signals.Read(std::as_writable_bytes(std::span(&signo, 1)));
  if (n && *n == 1)
    std::fprintf(stderr, "%s: %s, closing %zu connection(s)\n", prog, ::strsignal(signo),
                 set.slots() - 1);
  else
    std::fprintf(stderr, "%s: signal pipe read failed (%s), shutting down\n", prog,
                 n ? "end of file" : n.error().message().c_str());
  set.close_all();
  co_await set.all_ended();
}

// One Loop of a run_server_loops group: the accept loop, then (its own ConnSet) until every
// connection it accepted has ended. Loop::shutdown (LoopGroup::shutdown) evicts the
// descriptors, so the accept and the connections end with Errc::closed.
template <class Handler>
net::Task<void> serve_member(net::Loop& loop, net::Listener& ln, Handler& handler, const char* prog) {
  ConnSet set(loop);
  set.reserve();
  loop.spawn(accept_loop(loop, ln, set, handler, prog));
  co_await set.all_ended();
}

// The termination pipe's next signal, waited for on this (plain) thread. Returns its number,
// or 0 if the pipe failed.
int wait_for_signal(int pipe_fd) noexcept;

}  // namespace detail

// run_server on `loops` Loops, one thread each, sharing `address` through SO_REUSEPORT
// (net::LoopGroup): `make_handler(i)` makes Loop i's handler, which lives until every Loop
// has shut down and is used on that Loop's thread only (so per-Loop state needs no lock).
// The main thread waits for SIGTERM / SIGINT, then shuts every Loop down (its connections
// are closed and their coroutines end) and returns 0, or 1 if some did not end within 5 s.
template <class MakeHandler>
int run_server_loops(const char* prog, const char* address, std::size_t loops, MakeHandler make_handler) {
  Result<int> sigpipe = termination_pipe();
  if (!sigpipe) {
    std::fprintf(stderr, "%s: signal pipe: %s\n", prog, sigpipe.error().message().c_str());
    return 1;
  }
  using Handler = decltype(make_handler(std::size_t{0}));
  std::vector<Handler> handlers;
  handlers.reserve(loops);
  for (std::size_t i = 0; i < loops; ++i) handlers.push_back(make_handler(i));
  Result<std::unique_ptr<net::LoopGroup>> group = net::LoopGroup::Start(
      loops, "tcp", address, [&handlers, prog](net::Loop& loop, net::Listener& ln, std::size_t i) {
        return detail::serve_member(loop, ln, handlers[i], prog);
      });
  if (!group) {
    std::fprintf(stderr, "%s: listen %s on %zu loops: %s\n", prog, address, loops,
                 group.error().message().c_str());
    return 1;
  }
  std::printf("listening on %s\n", (*group)->Addr().to_string().c_str());
  std::fflush(stdout);
  const int signo = detail::wait_for_signal(*sigpipe);
  if (signo != 0) std::fprintf(stderr, "%s: %s, closing the connections of %zu loops\n", prog, ::strsignal(signo), loops);
  else std::fprintf(stderr, "%s: signal pipe read failed, shutting down\n", prog);
  Result<std::size_t> left = (*group)->shutdown(Timeout::after(std::chrono::seconds(5)));
  if (!left || *left != 0) {
    std::fprintf(stderr, "%s: %zu task(s) still running after 5 s\n", prog, left ? *left : std::size_t{0});
    std::_Exit(1);  // ~LoopGroup would wait for them without a bound
  }
  return 0;
}

// `prog [address]`, default "127.0.0.1:0". Prints exactly one line to stdout,
// "listening on <addr>", flushed, then serves until SIGTERM / SIGINT and returns 0 once every
// connection has been closed. Returns 2 on a usage error, 1 if it cannot listen.
// `handler(conn)` returns the Task<void> that serves one connection; `conn` stays valid until
// that task ends (the caller closes it afterwards).
//
// `host(loop, task)` runs the Loop until `task` (the whole server) has ended and returns the
// exit status: by default loop.block_on(task), then 0; a server hosted in another event loop
// passes a host that starts an adapter (netpoll/adapters/), runs its event loop until the task
// ends, detaches, and returns 1 (having said why) if the adapter failed
// (examples/echo_server_uv.cc and its siblings).
template <class Handler, class Host>
int run_server(const char* prog, int argc, char** argv, Handler handler, Host host) {
  if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
    std::fprintf(stderr, "usage: %s [address]   (default 127.0.0.1:0)\n", prog);
    return 2;
  }
  const char* address = argc == 2 ? argv[1] : "127.0.0.1:0";
  Result<int> sigpipe = termination_pipe();
  if (!sigpipe) {
    std::fprintf(stderr, "%s: signal pipe: %s\n", prog, sigpipe.error().message().c_str());
    return 1;
  }
  net::Loop loop;
  // The pipe is just a pollable descriptor: an FD not marked as a stream (a pipe is no
  // socket, so reads are plain read(2); each one-byte read is one whole signal), wrapped in a
  // Conn for its Read.
  Result<net::FD*> sigpipe_fd = net::FD::open(loop, *sigpipe, /*stream=*/false);
  if (!sigpipe_fd) {
    std::fprintf(stderr, "%s: registering the signal pipe: %s\n", prog,
                 sigpipe_fd.error().message().c_str());
    return 1;
  }
  net::Conn signals(*sigpipe_fd, net::Network::unix_dgram, net::PackedAddr{}, net::PackedAddr{});
  Result<net::Listener> ln = net::Listen(loop, "tcp", address);
  if (!ln) {
    std::fprintf(stderr, "%s: listen %s: %s\n", prog, address, ln.error().message().c_str());
    return 1;
  }
  std::printf("listening on %s\n", ln->Addr().to_string().c_str());
  std::fflush(stdout);
  return host(loop, detail::serve(loop, *ln, signals, handler, prog));
}

template <class Handler>
int run_server(const char* prog, int argc, char** argv, Handler handler) {
  return run_server(prog, argc, argv, std::move(handler),
                    [](net::Loop& loop, net::Task<void> t) {
                      loop.block_on(std::move(t));
                      return 0;
                    });
}

// For a host whose adapter failed before the server ended: ends the server (shutdown closes
// its descriptors, so its coroutines unwind) and returns the exit status 1.
inline int abandon(net::Loop& loop) {
  (void)loop.shutdown(Timeout::after(std::chrono::seconds(5)));
  return 1;
}

// For a host: spawns `t` on `loop` and returns a flag set once it has ended.
inline void spawn_flagged(net::Loop& loop, net::Task<void> t, bool& ended) {
  struct Run {
    static net::Task<void> go(net::Task<void> t, bool& ended) {
      co_await std::move(t);
      ended = true;
    }
  };
  loop.spawn(Run::go(std::move(t), ended));
}

}  // namespace netpoll::examples
