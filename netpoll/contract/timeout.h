// Timeout: how long Backend::wait may block, with nanosecond precision.
//
// Three shapes: infinite (block until an event or a wake), zero (poll, never block), and a
// finite duration. Backends must never return early because of rounding: a duration that the
// kernel can only express in coarser units is rounded up, never down to zero (docs/pitfalls.md 6).
//
// Documented clamps for absurd input (never UB, never a crash):
//   - a negative duration is treated as zero (the deadline has passed: poll);
//   - a duration that does not fit in int64 nanoseconds (~292 years) is treated as infinite.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <ratio>
#include <type_traits>

namespace netpoll {

class Timeout {
 public:
  static constexpr Timeout infinite() noexcept { return Timeout(kInfinite); }
  static constexpr Timeout zero() noexcept { return Timeout(0); }

  // Saturating conversion from any duration type (see the clamps above).
  template <class Rep, class Period>
  static constexpr Timeout after(std::chrono::duration<Rep, Period> d) noexcept {
    if (!(d > d.zero())) return zero();  // also catches a NaN floating-point duration
    using NsPerTick = std::ratio_divide<Period, std::nano>;
    if constexpr (std::is_integral_v<Rep> && NsPerTick::den == 1) {
      // Whole nanoseconds per tick (ns, us, ms, s, ...): exact in integers. The long double
      // path below is exact for these only where long double keeps 64 bits of mantissa (x86
      // GCC and mingw); MSVC's long double is a double, which rounds counts above 2^53 ns,
      // possibly down, and a wait must never end early.
      constexpr std::uintmax_t kMaxTicks =
          static_cast<std::uintmax_t>(kInfinite - 1) / static_cast<std::uintmax_t>(NsPerTick::num);
      if (static_cast<std::uintmax_t>(d.count()) > kMaxTicks) return infinite();
      return Timeout(static_cast<std::int64_t>(d.count()) * NsPerTick::num);
    } else {
      // Range-check and convert in long double: converting in the caller's own type (float,
      // say) could round up past the int64 limit that was just checked.
      using Wide = std::chrono::duration<long double, std::nano>;
      const long double wide = std::chrono::duration_cast<Wide>(d).count();
      if (wide >= static_cast<long double>(kInfinite)) return infinite();
      auto ns = static_cast<std::int64_t>(wide);
      if (ns <= 0) ns = 1;  // a positive sub-ns duration still means "wait a little", not "poll"
      return Timeout(ns);
    }
  }
  static constexpr Timeout after_ns(std::int64_t ns) noexcept {
    return after(std::chrono::nanoseconds(ns));
  }

  constexpr bool is_infinite() const noexcept { return ns_ == kInfinite; }
  constexpr bool is_zero() const noexcept { return ns_ == 0; }
  // Nanoseconds to wait; only meaningful when !is_infinite().
  constexpr std::int64_t nanoseconds() const noexcept { return ns_; }

  // Milliseconds for APIs that only take ms: rounded up so a positive timeout never becomes
  // a zero-timeout poll, clamped to `max_ms`; -1 for infinite.
  constexpr std::int64_t milliseconds_ceil(std::int64_t max_ms) const noexcept {
    if (is_infinite()) return -1;
    std::int64_t ms = ns_ / 1000000 + (ns_ % 1000000 != 0 ? 1 : 0);
    return ms > max_ms ? max_ms : ms;
  }

  // When a wait started at `now` (monotonic ns) ends: saturates at INT64_MAX instead of
  // overflowing, which is also the answer for infinite.
  constexpr std::int64_t deadline_from(std::int64_t now) const noexcept {
    return ns_ > kInfinite - now ? kInfinite : now + ns_;
  }

  friend constexpr bool operator==(Timeout, Timeout) = default;
  // The shorter of two timeouts (infinite is the longest).
  friend constexpr Timeout min(Timeout a, Timeout b) noexcept { return a.ns_ <= b.ns_ ? a : b; }

 private:
  static constexpr std::int64_t kInfinite = std::numeric_limits<std::int64_t>::max();
  constexpr explicit Timeout(std::int64_t ns) noexcept : ns_(ns) {}
  std::int64_t ns_;
};

}  // namespace netpoll
