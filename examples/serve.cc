#include "examples/serve.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>

namespace netpoll::examples {

Result<int> termination_signalfd() noexcept {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (const int err = pthread_sigmask(SIG_BLOCK, &set, nullptr)) return errno_code(err);
  const int fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return errno_code(errno);
  return fd;
}

ConnSet::Member::Member(ConnSet& set, net::Socket* sock) noexcept : set_(&set), sock_(sock) {
  next_ = set.head_;
  if (next_) next_->prev_ = this;
  set.head_ = this;
  if (set.closing_) sock_->Close();
}

ConnSet::Member::~Member() {
  if (prev_) prev_->next_ = next_;
  else set_->head_ = next_;
  if (next_) next_->prev_ = prev_;
  // The waiter runs from the Loop's queue, after this coroutine has finished unwinding
  // (its frame, and the Conn in it, are gone by then).
  if (--set_->slots_ == 0 && set_->resume_.h) set_->loop_->schedule(&set_->resume_);
}

void ConnSet::close_all() noexcept {
  closing_ = true;
  for (Member* m = head_; m; m = m->next_) m->sock_->Close();
}

}  // namespace netpoll::examples
