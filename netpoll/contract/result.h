// Result<T>: a value or a std::error_code, for operations that return both (no exceptions on
// hot paths). T must be default-constructible and cheap to move.
#pragma once

#include <system_error>
#include <type_traits>
#include <utility>

#include "netpoll/contract/error.h"

namespace netpoll {

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T v) noexcept(std::is_nothrow_move_constructible_v<T>) : value_(std::move(v)) {}
  // A default (zero) error_code is "no error": Result(std::error_code{}) is ok().
  Result(std::error_code e) noexcept
      : code_(e.value()), category_(e ? &e.category() : nullptr) {}
  // Any error-code enum (netpoll::Errc, net::AddrErrc, std::errc is not one: use errno_code).
  template <class E>
    requires std::is_error_code_enum_v<E>
  Result(E e) noexcept : Result(std::error_code(e)) {}

  bool ok() const noexcept { return category_ == nullptr; }
  explicit operator bool() const noexcept { return ok(); }
  std::error_code error() const noexcept {
    return category_ ? std::error_code(code_, *category_) : std::error_code();
  }

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
  // The error is kept as (code, category*) rather than a std::error_code, whose default
  // constructor calls std::system_category() out of line: success on the wait path stays a
  // pointer test (benchmarks/micro_bench.cc "empty iteration").
  T value_{};
  int code_ = 0;
  const std::error_category* category_ = nullptr;
};

}  // namespace netpoll
