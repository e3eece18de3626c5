// doctest's main, with two defaults that make a hung or crashed test diagnosable from its log:
// output is unbuffered (a test killed by Bazel's timeout still shows how far it got) and each
// finished test case prints its duration (so the last line names the case that followed it).
#define DOCTEST_CONFIG_IMPLEMENT
#include <iostream>

#include "doctest/doctest.h"
#include "test/ran_marker.h"

int main(int argc, char** argv) {
  std::cout << std::unitbuf;
  doctest::Context ctx;
  ctx.setOption("duration", true);
  ctx.applyCommandLine(argc, argv);  // after the defaults: the command line overrides them
  return netpoll::testing::report_ran(ctx.run());
}
