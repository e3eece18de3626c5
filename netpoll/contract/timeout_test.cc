#include "netpoll/contract/timeout.h"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <ratio>
#include <string>

#include "doctest/doctest.h"
#include "netpoll/contract/error.h"
#include "netpoll/contract/event.h"
#include "netpoll/contract/result.h"

using namespace std::chrono_literals;
using netpoll::Timeout;

TEST_CASE("Timeout: shapes and clamps") {
  CHECK(Timeout::infinite().is_infinite());
  CHECK(Timeout::zero().is_zero());
  CHECK(Timeout::after(0s).is_zero());
  CHECK(Timeout::after(-1ns).is_zero());
  CHECK(Timeout::after(std::chrono::hours(-100000)).is_zero());
  CHECK(Timeout::after(1ns).nanoseconds() == 1);
  CHECK(Timeout::after(1500us).nanoseconds() == 1500000);
  CHECK(Timeout::after(std::chrono::years(300)).is_infinite());
  CHECK(Timeout::after(std::chrono::hours(24 * 365 * 200)).nanoseconds() > 0);
  // A positive sub-nanosecond floating duration still waits (never a zero-timeout poll).
  CHECK(Timeout::after(std::chrono::duration<double, std::nano>(0.25)).nanoseconds() == 1);
  CHECK(Timeout::after(std::chrono::duration<double>(std::nan(""))).is_zero());
  CHECK(Timeout::after(std::chrono::duration<double>(1e300)).is_infinite());
  // Just below 2^63 ns in float seconds: must not overflow in the conversion (UBSan checks).
  const Timeout f = Timeout::after(std::chrono::duration<float>(9223371776.0f));
  CHECK((f.is_infinite() || f.nanoseconds() > 0));
}

TEST_CASE("Timeout: integer durations convert exactly, whatever long double is") {
  // Above 2^53 a double (MSVC's long double) cannot hold every nanosecond count.
  constexpr std::int64_t k2p53 = std::int64_t{1} << 53;
  CHECK(Timeout::after(std::chrono::nanoseconds(k2p53 + 1)).nanoseconds() == k2p53 + 1);
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  CHECK(Timeout::after(std::chrono::nanoseconds(kMax - 1)).nanoseconds() == kMax - 1);
  CHECK(Timeout::after(std::chrono::nanoseconds(kMax)).is_infinite());
  CHECK(Timeout::after(std::chrono::milliseconds(kMax / 1000000)).nanoseconds() ==
        kMax / 1000000 * 1000000);
  CHECK(Timeout::after(std::chrono::milliseconds(kMax / 1000000 + 1)).is_infinite());
  CHECK(Timeout::after(std::chrono::duration<std::uint64_t>(~std::uint64_t{0})).is_infinite());
  static_assert(Timeout::after(std::chrono::seconds(3)).nanoseconds() == 3'000'000'000);
}

TEST_CASE("Timeout: milliseconds are rounded up, never truncated to zero") {
  CHECK(Timeout::after(1ns).milliseconds_ceil(1000) == 1);
  CHECK(Timeout::after(999us).milliseconds_ceil(1000) == 1);
  CHECK(Timeout::after(1ms).milliseconds_ceil(1000) == 1);
  CHECK(Timeout::after(1000001ns).milliseconds_ceil(1000) == 2);
  CHECK(Timeout::after(5s).milliseconds_ceil(1000) == 1000);  // clamped to the API's max
  CHECK(Timeout::zero().milliseconds_ceil(1000) == 0);
  CHECK(Timeout::infinite().milliseconds_ceil(1000) == -1);
  CHECK(min(Timeout::infinite(), Timeout::after(1ms)) == Timeout::after(1ms));
  CHECK(min(Timeout::zero(), Timeout::after(1ms)).is_zero());
}

TEST_CASE("errors: netpoll codes have clear messages and portable conditions") {
  using netpoll::Errc;
  std::error_code ec = Errc::deadline_exceeded;
  CHECK(ec == std::errc::timed_out);
  CHECK(ec.message().find("timeout") != std::string::npos);
  CHECK(std::error_code(Errc::closed).message() == "use of closed network connection");
  CHECK(std::error_code(Errc::invalid_argument) == std::errc::invalid_argument);
  CHECK(std::string(ec.category().name()) == "netpoll");
  CHECK(std::error_code(static_cast<Errc>(999)).message().find("999") != std::string::npos);
  netpoll::Result<int> r = Errc::not_pollable;
  CHECK(!r.ok());
  netpoll::Result<int> v = 7;
  CHECK(v.ok());
  CHECK(*v == 7);
}

TEST_CASE("Event: which waiters a flag wakes") {
  using netpoll::Event;
  CHECK(Event{{}, Event::kReadable, 0}.wakes_reader());
  CHECK(!Event{{}, Event::kReadable, 0}.wakes_writer());
  CHECK(Event{{}, Event::kWritable, 0}.wakes_writer());
  CHECK(!Event{{}, Event::kWritable, 0}.wakes_reader());
  CHECK(Event{{}, Event::kReadHangup, 0}.wakes_reader());
  CHECK(!Event{{}, Event::kReadHangup, 0}.wakes_writer());
  CHECK(Event{{}, Event::kHangup, 0}.wakes_writer());
  CHECK(Event{{}, Event::kError, 0}.wakes_reader());
  CHECK(Event{{}, Event::kError, 0}.wakes_writer());
}

TEST_CASE("Timeout: deadline_from saturates instead of overflowing") {
  using netpoll::Timeout;
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  CHECK(Timeout::after_ns(5).deadline_from(100) == 105);
  CHECK(Timeout::zero().deadline_from(100) == 100);
  CHECK(Timeout::after_ns(kMax - 1).deadline_from(10) == kMax);
  CHECK(Timeout::infinite().deadline_from(0) == kMax);
}
