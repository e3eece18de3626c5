// TableGuard: saves a table of hooks (net::sys) and restores all of it when it goes out of
// scope, so a test that swaps entries cannot leave them swapped for the next one.
#pragma once

namespace netpoll::net {

template <class Table>
class TableGuard {
 public:
  explicit TableGuard(Table& live) noexcept : live_(live), saved_(live) {}
  TableGuard(const TableGuard&) = delete;
  TableGuard& operator=(const TableGuard&) = delete;
  ~TableGuard() { live_ = saved_; }

 private:
  Table& live_;
  Table saved_;
};

}  // namespace netpoll::net
