#include "netpoll/net/loop_group.h"

#include <string>
#include <system_error>
#include <utility>

namespace netpoll::net {

Result<std::unique_ptr<LoopGroup>> LoopGroup::Start(std::size_t loops, std::string_view network,
                                                    std::string_view address, ServeFn serve,
                                                    ListenConfig config) {
  if (loops == 0 || !serve) return Errc::invalid_argument;
  if (loops > 1) config.reuse_port = true;
  std::unique_ptr<LoopGroup> g(new LoopGroup);
  std::string bound;  // the first Listener's address, for the others
  for (std::size_t i = 0; i < loops; ++i) {
    auto m = std::make_unique<Member>();
    m->loop = std::make_unique<Loop>();
    Result<Listener> ln = config.Listen(*m->loop, network, i == 0 ? address : std::string_view(bound));
    if (!ln) return ln.error();  // ~LoopGroup closes what was made (no thread runs yet)
    m->listener = std::move(*ln);
    if (i == 0) {
      g->addr_ = m->listener.Addr();
      bound = g->addr_.to_string();
    }
    m->loop->spawn(serve(*m->loop, m->listener, i));
    g->members_.push_back(std::move(m));
  }
  for (auto& m : g->members_) {
    try {
      Loop* loop = m->loop.get();
      m->thread = std::thread([loop] { (void)loop->run(); });
    } catch (const std::system_error& e) {
      return e.code();  // ~LoopGroup stops the threads started and ends every task
    }
  }
  return g;
}

LoopGroup::~LoopGroup() {
  for (std::size_t i = 0; i < members_.size(); ++i) {
    // An unbounded wait: a task that never ends would make ~Loop abort anyway.
    for (;;) {
      Result<std::size_t> left = shutdown(i, Timeout::infinite());
      if (!left || *left == 0) break;
    }
  }
}

bool LoopGroup::on_own_thread() const noexcept {
  const Loop* current = Loop::current();
  for (const auto& m : members_)
    if (m->loop.get() == current || (m->thread.joinable() && m->thread.get_id() == std::this_thread::get_id()))
      return true;
  return false;
}

Result<std::size_t> LoopGroup::shutdown(std::size_t i, Timeout limit) {
  if (i >= members_.size()) return Errc::invalid_argument;
  if (on_own_thread()) return Errc::would_deadlock;
  Member& m = *members_[i];
  if (!m.stopped) {
    m.loop->stop();
    if (m.thread.joinable()) m.thread.join();  // its run() returned: nobody steps the Loop
    m.stopped = true;
  }
  Result<std::size_t> left = m.loop->shutdown(limit);
  if (!left) return left;
  if (*left == 0 && m.listener.valid()) m.listener = Listener();  // closes it (and its file)
  return left;
}

Result<std::size_t> LoopGroup::shutdown(Timeout limit) {
  std::size_t left = 0;
  for (std::size_t i = 0; i < members_.size(); ++i) {
    Result<std::size_t> r = shutdown(i, limit);
    if (!r) return r;
    left += *r;
  }
  return left;
}

}  // namespace netpoll::net
