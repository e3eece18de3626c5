// Helpers for suites over the net layer (net/): kept apart from test_util so the poller and
// core suites do not depend on net/.
#pragma once

#include <thread>

#include "net/loop.h"

namespace netpoll::testing {

// A Loop served by its own thread, for blocking-mode callers (Operation::wait).
class LoopThread {
 public:
  LoopThread() : thread_([this] { loop.run(); }) {}
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;
  ~LoopThread() {
    loop.stop();
    thread_.join();
  }
  net::Loop loop;

 private:
  std::thread thread_;
};

}  // namespace netpoll::testing
