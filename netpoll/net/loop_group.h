// LoopGroup: one address served from several cores. N Loops, one thread each, each with its
// own Listener on the same address through SO_REUSEPORT, so the kernel hands every new
// connection to one of them and a connection then lives on that Loop alone: no state is shared
// between the Loops, and nothing crosses threads on the request path.
//
//   auto group = LoopGroup::Start(4, "tcp", ":8080",
//       [](Loop& loop, Listener& ln, std::size_t i) -> Task<void> {
//         for (;;) {
//           Result<Conn> c = co_await ln.Accept();
//           if (!c) co_return;                        // Errc::closed: this Loop is shutting down
//           loop.spawn(serve(std::move(*c)));
//         }
//       });
//   ...
//   group.value()->shutdown(Timeout::after(5s));     // every Loop; or shutdown(i, limit)
//
// How connections spread is the kernel's: Linux hashes each connection's addresses and ports
// over the listening sockets (kReusePortSpreads); macOS and the BSDs let the sockets share the
// port but give new connections to one of them, so there a group accepts on one Loop (FreeBSD's
// balancing option, SO_REUSEPORT_LB, is not used). Windows has no SO_REUSEPORT: a group of more
// than one Loop fails with std::errc::operation_not_supported there, as does one on a Unix
// network anywhere. docs/scaling.md has the measurements and what changes at 16-64 cores.
#pragma once

#include <cstddef>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "netpoll/net/net.h"

namespace netpoll::net {

class LoopGroup {
 public:
  // Spawned once on each Loop, with that Loop's Listener (owned by the group) and the Loop's
  // index. Runs on the Loop's thread, and so does everything the Loop runs until it has shut
  // down (per-thread state a handler keeps stays valid). When the Loop shuts down, every
  // operation on its descriptors fails with Errc::closed: the task and the connections it
  // spawned must then end. The group keeps this callable for its whole life, so the
  // coroutines it returns may use its captures.
  using ServeFn = std::function<Task<void>(Loop& loop, Listener& ln, std::size_t index)>;

  // Makes `loops` Loops, a Listener on each (`config`, with reuse_port on when loops > 1; the
  // first binds `address`, and the others the address it got, so ":0" gives every Listener
  // the same ephemeral port), spawns `serve` on each, then starts one thread per Loop. Errors:
  // std::errc::invalid_argument for loops == 0 or an empty `serve`; what Listen returns; a
  // thread that could not start (EAGAIN). On error nothing is left running or open.
  static Result<std::unique_ptr<LoopGroup>> Start(std::size_t loops, std::string_view network,
                                                  std::string_view address, ServeFn serve,
                                                  ListenConfig config = {});
  LoopGroup(const LoopGroup&) = delete;
  LoopGroup& operator=(const LoopGroup&) = delete;
  // Shuts down every Loop still running and waits, without a bound, until their tasks have
  // ended (call shutdown with a limit first where a task may not end). Aborts with a message
  // if called on one of the group's own Loop threads.
  ~LoopGroup();

  std::size_t size() const noexcept { return members_.size(); }
  SockAddr Addr() const noexcept { return addr_; }  // every Listener's address
  // The i-th Loop (i < size()); post() to it from any thread. After shutdown(i) it is still
  // there, stopped.
  Loop& loop(std::size_t i) noexcept;

  // Shuts down Loop i. First its Listener is closed, so the kernel hands the Loop no more
  // connections (on Linux a connection still in its accept queue at that moment is reset:
  // SO_REUSEPORT moves no queue). Then, on the Loop's own thread, the Loop stops running and
  // Loop::shutdown(limit) ends every operation on its descriptors (its connections' reads and
  // writes fail with Errc::closed) and steps it until its tasks have ended. Returns
  // Loop::shutdown's count of tasks still running: 0 once they all ended (the thread has then
  // exited); call again to wait longer. The other Loops keep serving their connections and
  // accepting. Any thread but the group's own Loop threads (Errc::would_deadlock there);
  // calls from several threads are serialized. Errc::invalid_argument if i >= size().
  // Idempotent.
  Result<std::size_t> shutdown(std::size_t i, Timeout limit);
  // Every Loop, in order; the sum of what each left running.
  Result<std::size_t> shutdown(Timeout limit);

 private:
  struct Member;
  LoopGroup() = default;
  bool on_own_thread() const noexcept;
  static void run_member(const LoopGroup* g, Member* m) noexcept;  // a Loop's thread
  static void finish(Member& m) noexcept;
  std::mutex mu_;  // serializes shutdown()
  std::vector<std::unique_ptr<Member>> members_;
  SockAddr addr_;
  ServeFn serve_;  // outlives every task it made
};

}  // namespace netpoll::net
