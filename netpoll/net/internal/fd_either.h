// The io_uring build's operations (--config=uring): each one is the ring operation
// (fd_uring.h) when its FD's Loop runs on io_uring, and the readiness one (fd_posix.h) when
// that Loop fell back to epoll (netpoll/backends/uring/fallback_poller.h). Chosen when the
// operation is made, from the Loop's poller, which never changes; then every step is one
// predictable branch. The operation holds either in place (a union): its frame slot is the
// larger of the two, plus the choice.
#pragma once

#include <new>
#include <utility>

#include "netpoll/net/internal/fd.h"
#include "netpoll/net/internal/fd_posix.h"
#include "netpoll/net/internal/fd_uring.h"

namespace netpoll::net {

template <class Ring, class Ready>
class EitherOp {
 public:
  template <class... A>
  explicit EitherOp(FD* fd, A&&... a) noexcept : ring_(fd && fd->loop().netpoll().backend().ring()) {
    if (ring_)
      new (&ring_op_) Ring(fd, std::forward<A>(a)...);
    else
      new (&ready_op_) Ready(fd, std::forward<A>(a)...);
  }
  EitherOp(const EitherOp&) = delete;
  EitherOp& operator=(const EitherOp&) = delete;
  ~EitherOp() {
    if (ring_)
      ring_op_.~Ring();
    else
      ready_op_.~Ready();
  }

  bool step(Waiter* w) noexcept { return ring_ ? ring_op_.step(w) : ready_op_.step(w); }
  decltype(auto) result() noexcept { return ring_ ? ring_op_.result() : ready_op_.result(); }
  decltype(auto) fail_on_loop_thread() noexcept {
    return ring_ ? ring_op_.fail_on_loop_thread() : ready_op_.fail_on_loop_thread();
  }
  Loop* loop() const noexcept { return ring_ ? ring_op_.loop() : ready_op_.loop(); }

 private:
  union {
    Ring ring_op_;
    Ready ready_op_;
  };
  bool ring_;
};

using ReadOp = EitherOp<ring::ReadOp, readiness::ReadOp>;
using ReadableOp = EitherOp<ring::ReadableOp, readiness::ReadableOp>;
using WriteOp = EitherOp<ring::WriteOp, readiness::WriteOp>;
using WritevOp = EitherOp<ring::WritevOp, readiness::WritevOp>;
using AcceptOp = EitherOp<ring::AcceptOp, readiness::AcceptOp>;
using ConnectOp = EitherOp<ring::ConnectOp, readiness::ConnectOp>;
using RecvFromOp = EitherOp<ring::RecvFromOp, readiness::RecvFromOp>;
using SendToOp = EitherOp<ring::SendToOp, readiness::SendToOp>;

}  // namespace netpoll::net
