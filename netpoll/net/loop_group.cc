#include "netpoll/net/loop_group.h"

#include <string>
#include <system_error>
#include <utility>

#include "netpoll/contract/error.h"

namespace netpoll::net {

// One Loop and the thread that runs it. The thread runs the Loop until a shutdown request
// stops it, then shuts the Loop down itself (so its tasks unwind on the thread they ran on)
// and answers each request with what is left, until nothing is.
struct LoopGroup::Member {
  std::unique_ptr<Loop> loop;
  Listener listener;
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Timeout> request;       // guarded by mu: a shutdown asked for, not yet done
  std::optional<std::size_t> answer;    // guarded by mu: what the last one left running
  bool finished = false;                // its tasks all ended (the thread exited, or none ran)
};

namespace {
// The group whose Loop this thread runs, for the whole thread (not a thread id: ids of exited
// threads are reused, and a controlling thread could inherit one).
thread_local const LoopGroup* t_group = nullptr;
}  // namespace

void LoopGroup::run_member(const LoopGroup* g, Member* m) noexcept {
  t_group = g;
  (void)m->loop->run();  // until shutdown() stops it
  for (;;) {
    Timeout limit = Timeout::zero();
    {
      std::unique_lock<std::mutex> g(m->mu);
      m->cv.wait(g, [m] { return m->request.has_value(); });
      limit = *m->request;
    }
    Result<std::size_t> left = m->loop->shutdown(limit);
    if (!left) fatal("LoopGroup: a Loop could not be shut down on its own thread");
    std::lock_guard<std::mutex> g(m->mu);
    m->request.reset();
    m->answer = *left;
    m->cv.notify_all();
    if (*left == 0) return;
  }
}

Result<std::unique_ptr<LoopGroup>> LoopGroup::Start(std::size_t loops, std::string_view network,
                                                    std::string_view address, ServeFn serve,
                                                    ListenConfig config) {
  if (loops == 0 || !serve) return Errc::invalid_argument;
  if (loops > 1) config.reuse_port = true;
  std::unique_ptr<LoopGroup> g(new LoopGroup);
  g->serve_ = std::move(serve);
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
    m->loop->spawn(g->serve_(*m->loop, m->listener, i));
    g->members_.push_back(std::move(m));
  }
  for (auto& m : g->members_) {
    try {
      m->thread = std::thread(&run_member, g.get(), m.get());
    } catch (const std::system_error& e) {
      return e.code();  // ~LoopGroup stops the threads started and ends every task
    }
  }
  return g;
}

LoopGroup::~LoopGroup() {
  if (on_own_thread()) fatal("LoopGroup destroyed on one of its own Loop threads");
  for (std::size_t i = 0; i < members_.size(); ++i) {
    for (;;) {
      Result<std::size_t> left = shutdown(i, Timeout::infinite());
      if (!left || *left == 0) break;
    }
  }
}

// Every task of the Loop has ended, so nothing refers to its Listener any more: let go of it
// (its descriptor's memory goes back; the Loop counts no open socket).
void LoopGroup::finish(Member& m) noexcept {
  m.listener = Listener();
  m.finished = true;
}

Loop& LoopGroup::loop(std::size_t i) noexcept { return *members_[i]->loop; }

bool LoopGroup::on_own_thread() const noexcept { return t_group == this; }

Result<std::size_t> LoopGroup::shutdown(std::size_t i, Timeout limit) {
  if (i >= members_.size()) return Errc::invalid_argument;
  if (on_own_thread()) return Errc::would_deadlock;
  std::lock_guard<std::mutex> serial(mu_);
  Member& m = *members_[i];
  if (m.finished) return std::size_t{0};
  // No new connections for this Loop: closing is safe from any thread, and the serve task's
  // pending Accept ends with Errc::closed (the Listener object stays until the tasks are done).
  (void)m.listener.Close();
  if (!m.thread.joinable()) {
    // Its thread never started (Start failed): nothing ran on another thread, so the tasks
    // unwind here.
    Result<std::size_t> left = m.loop->shutdown(limit);
    if (left && *left == 0) finish(m);
    return left;
  }
  std::size_t left;
  {
    std::unique_lock<std::mutex> g(m.mu);
    m.answer.reset();
    m.request = limit;
    m.cv.notify_all();
    m.loop->stop();  // ends its run(); a later request finds it waiting for one
    m.cv.wait(g, [&m] { return m.answer.has_value(); });
    left = *m.answer;
  }
  if (left == 0) {
    m.thread.join();
    finish(m);
  }
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
