// Result<T>: a value or a std::error_code, for operations that return both (no exceptions on
// hot paths). T must be default-constructible and cheap to move.
#pragma once

#include <system_error>
#include <utility>

#include "poller/error.h"

namespace netpoll {

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T v) noexcept(std::is_nothrow_move_constructible_v<T>) : value_(std::move(v)) {}
  Result(std::error_code e) noexcept : error_(e) {}
  Result(Errc e) noexcept : error_(make_error_code(e)) {}

  bool ok() const noexcept { return !error_; }
  explicit operator bool() const noexcept { return ok(); }
  const std::error_code& error() const noexcept { return error_; }

  // Precondition: ok(). The value of a failed Result is a default-constructed T.
  T& value() & noexcept { return value_; }
  const T& value() const& noexcept { return value_; }
  T&& value() && noexcept { return std::move(value_); }
  T& operator*() & noexcept { return value_; }
  const T& operator*() const& noexcept { return value_; }
  T&& operator*() && noexcept { return std::move(value_); }
  T* operator->() noexcept { return &value_; }
  const T* operator->() const noexcept { return &value_; }

 private:
  T value_{};
  std::error_code error_{};
};

}  // namespace netpoll
