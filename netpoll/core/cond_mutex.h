// CondMutex: a lock a std::condition_variable can wait on, annotated for the thread-safety
// analysis (libstdc++'s std::mutex and std::unique_lock carry no annotations, so fields
// guarded by a plain std::mutex could not be checked).
//
// Mutex (mutex.h) is the lock of every hot structure; this one is for the few cold places
// that sleep on a condition with a timeout (the resolver pool's idle threads), where the
// 40 bytes of std::mutex do not matter and std::condition_variable's timed wait is wanted.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "netpoll/core/thread_annotations.h"

namespace netpoll {

class NETPOLL_CAPABILITY("mutex") CondMutex {
 public:
  CondMutex() = default;
  CondMutex(const CondMutex&) = delete;
  CondMutex& operator=(const CondMutex&) = delete;

  void lock() NETPOLL_ACQUIRE() { m_.lock(); }
  void unlock() NETPOLL_RELEASE() { m_.unlock(); }

 private:
  friend class CondMutexLock;
  std::mutex m_;
};

// Holds a CondMutex for its scope; may drop and retake it (unlock/lock) and wait on a
// condition variable with it.
class NETPOLL_SCOPED_CAPABILITY CondMutexLock {
 public:
  explicit CondMutexLock(CondMutex& mu) NETPOLL_ACQUIRE(mu) : lk_(mu.m_) {}
  ~CondMutexLock() NETPOLL_RELEASE() {}
  CondMutexLock(const CondMutexLock&) = delete;
  CondMutexLock& operator=(const CondMutexLock&) = delete;

  void lock() NETPOLL_ACQUIRE() { lk_.lock(); }
  void unlock() NETPOLL_RELEASE() { lk_.unlock(); }

  // Sleeps on `cv` with the lock released, and returns holding it again: false once
  // `deadline` passed, true when notified (or woken spuriously: callers recheck).
  template <class Clock, class Duration>
  bool wait_until(std::condition_variable& cv,
                  const std::chrono::time_point<Clock, Duration>& deadline) {
    return cv.wait_until(lk_, deadline) == std::cv_status::no_timeout;
  }

 private:
  std::unique_lock<std::mutex> lk_;
};

}  // namespace netpoll
