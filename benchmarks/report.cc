// report: assembles the per-benchmark entries (<dir>/B*.json, written by the suite binaries
// through harness.h) into latest.json, prints the markdown summary, and draws the ratio chart
// as SVG. The entries are our own one-line objects whose headline members come first, so a
// first-occurrence key lookup reads them; nothing else is parsed. An entry lacking an
// implementation (B6-B9 compare raw, netpoll and libuv only; results written before raw_uring
// and Asio joined) leaves its cells n/a and its bars out; a column nobody has is not shown.
//
//   report --dir benchmarks/results [--svg PATH]
#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "benchmarks/harness.h"

namespace {
using namespace netpoll::bench;

struct Row {
  std::string json, id, name, unit;
  bool higher = true;
  double value[kImpls];                  // the headline per implementation (-1: absent)
  double over[std::size(kRatios)];       // kRatios' ratios (-1: absent)
};

std::string ratio_key(const RatioPair& r) { return std::string(kImplName[r.of]) + "_over_" + kImplName[r.to]; }
// The chart's bar colour per kRatios entry.
constexpr const char* kRatioColor[] = {"#e08a2c", "#3b7dd8", "#8c564b", "#2ca02c",
                                       "#9467bd", "#d62728", "#17becf", "#bcbd22"};
static_assert(std::size(kRatioColor) >= std::size(kRatios), "a colour per ratio");

std::string raw_member(const std::string& j, const std::string& key) {
  const std::string k = "\"" + key + "\": ";
  const std::size_t i = j.find(k);
  if (i == std::string::npos) return "";
  std::size_t b = i + k.size(), e = b;
  if (j[b] == '"') {
    for (e = b + 1; e < j.size() && j[e] != '"'; ++e)
      if (j[e] == '\\') ++e;
    return j.substr(b + 1, e - b - 1);
  }
  while (e < j.size() && j[e] != ',' && j[e] != '}') ++e;
  return j.substr(b, e - b);
}
double num(const std::string& j, const std::string& key) {
  const std::string v = raw_member(j, key);
  return v.empty() || v == "null" ? -1 : std::atof(v.c_str());
}

// Ratio oriented so that > 1 means netpoll is better (time metrics are inverted).
double advantage(const Row& r, double ratio) { return ratio <= 0 ? -1 : r.higher ? ratio : 1 / ratio; }

std::string svg(const std::vector<Row>& rows) {
  const int bar_h = 12, gap = 10, left = 300, width = 420, top = 56;
  int h = top + 40;
  double maxv = 2.0;
  for (const Row& r : rows) {
    int bars = 0;
    for (std::size_t i = 0; i < std::size(kRatios); ++i)
      if (r.over[i] > 0) maxv = std::max(maxv, advantage(r, r.over[i])), ++bars;
    h += std::max(bars, 1) * bar_h + gap;
  }
  maxv = std::min(maxv, 4.0);
  auto x = [&](double v) { return left + static_cast<int>(std::min(v, maxv) / maxv * width); };
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << left + width + 80 << "\" height=\"" << h
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<text x=\"10\" y=\"20\" font-size=\"14\">netpoll advantage per benchmark (&gt; 1: netpoll better; "
       "time metrics inverted)</text>\n"
  ;
  // The legend: one swatch per ratio some row has, two rows of at most three.
  int shown = 0;
  for (std::size_t i = 0; i < std::size(kRatios); ++i) {
    bool any = false;
    for (const Row& r : rows) any |= r.over[i] > 0;
    if (!any) continue;
    const int lx = left + (shown % 3) * 120, ly = 26 + (shown / 3) * 14;
    o << "<rect x=\"" << lx << "\" y=\"" << ly << "\" width=\"12\" height=\"10\" fill=\"" << kRatioColor[i]
      << "\"/><text x=\"" << lx + 16 << "\" y=\"" << ly + 9 << "\">vs " << kImplName[kRatios[i].to] << "</text>\n";
    ++shown;
  }
  int y = top;
  for (const Row& r : rows) {
    std::string label = r.id + " " + r.name;
    if (label.size() > 46) label = label.substr(0, 45) + "...";
    o << "<text x=\"10\" y=\"" << y + bar_h + 2 << "\">" << label << "</text>\n";
    int bars = 0;
    for (std::size_t i = 0; i < std::size(kRatios); ++i) {
      const double a = advantage(r, r.over[i]);
      if (a <= 0) continue;
      const int by = y + bars * bar_h;
      o << "<rect x=\"" << left << "\" y=\"" << by << "\" width=\"" << x(a) - left << "\" height=\"" << bar_h
        << "\" fill=\"" << kRatioColor[i] << "\"/><text x=\"" << x(a) + 4 << "\" y=\"" << by + 10 << "\">" << fmt(a, 2)
        << "</text>\n";
      ++bars;
    }
    y += std::max(bars, 1) * bar_h + gap;
  }
  o << "<line x1=\"" << x(1.0) << "\" y1=\"" << top - 4 << "\" x2=\"" << x(1.0) << "\" y2=\"" << y
    << "\" stroke=\"black\" stroke-dasharray=\"4 3\"/><text x=\"" << x(1.0) - 8 << "\" y=\"" << y + 14
    << "\">1.0</text>\n</svg>\n";
  return o.str();
}
}  // namespace

int main(int argc, char** argv) {
  std::string dir, svg_path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) dir = argv[++i];
    else if (a == "--svg" && i + 1 < argc) svg_path = argv[++i];
    else {
      std::fprintf(stderr, "usage: report --dir DIR [--svg PATH]\n");
      return 2;
    }
  }
  if (dir.empty()) return std::fprintf(stderr, "report: --dir is required\n"), 2;
  std::vector<Row> rows;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n.size() < 7 || n[0] != 'B' || n.substr(n.size() - 5) != ".json") continue;
      std::ifstream f(dir + "/" + n);
      Row r;
      std::getline(f, r.json);
      if (r.json.empty() || r.json[0] != '{') continue;
      r.id = raw_member(r.json, "id");
      r.name = raw_member(r.json, "name");
      r.unit = raw_member(r.json, "unit");
      r.higher = raw_member(r.json, "higher_is_better") != "false";
      for (int k = 0; k < kImpls; ++k) r.value[k] = num(r.json, kImplName[k]);
      for (std::size_t i = 0; i < std::size(kRatios); ++i) r.over[i] = num(r.json, ratio_key(kRatios[i]));
      rows.push_back(r);
    }
    ::closedir(d);
  }
  auto key = [](const Row& r) {  // B1 < B2 < ... < B10; sub-ids (B2a) after their parent
    return std::make_pair(std::atoi(r.id.c_str() + 1), r.id);
  };
  std::sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) { return key(a) < key(b); });
  if (rows.empty()) return std::fprintf(stderr, "report: no results in %s\n", dir.c_str()), 1;

  std::string out = "{\n  \"machine\": " + json_str(machine_description()) +
                    ",\n  \"libuv_version\": " + json_str(libuv_version()) + ",\n  \"benchmarks\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) out += "    " + rows[i].json + (i + 1 < rows.size() ? ",\n" : "\n");
  out += "  ]\n}\n";
  {
    std::ofstream f(dir + "/latest.json.tmp", std::ios::trunc);
    f << out;
    if (!f.flush()) return std::fprintf(stderr, "report: cannot write %s/latest.json\n", dir.c_str()), 1;
  }
  std::rename((dir + "/latest.json.tmp").c_str(), (dir + "/latest.json").c_str());

  // The summary: a column per implementation and per ratio that some entry has.
  bool has_value[kImpls] = {}, has_ratio[std::size(kRatios)] = {};
  for (const Row& r : rows) {
    for (int k = 0; k < kImpls; ++k) has_value[k] |= r.value[k] >= 0;
    for (std::size_t i = 0; i < std::size(kRatios); ++i) has_ratio[i] |= r.over[i] >= 0;
  }
  std::string head = "| id | benchmark | unit |", rule = "|---|---|---|";
  for (int k = 0; k < kImpls; ++k)
    if (has_value[k]) head += std::string(" ") + kImplName[k] + " |", rule += "---:|";
  for (std::size_t i = 0; i < std::size(kRatios); ++i)
    if (has_ratio[i])
      head += std::string(" ") + kImplName[kRatios[i].of] + "/" + kImplName[kRatios[i].to] + " |", rule += "---:|";
  std::printf("%s\n%s\n", head.c_str(), rule.c_str());
  for (const Row& r : rows) {
    const int prec = *std::max_element(std::begin(r.value), std::end(r.value)) >= 100 ? 0 : 2;
    std::string line = "| " + r.id + " | " + r.name + " | " + r.unit + (r.higher ? "" : " (lower is better)") + " |";
    for (int k = 0; k < kImpls; ++k)
      if (has_value[k]) line += " " + fmt(r.value[k], prec) + " |";
    for (std::size_t i = 0; i < std::size(kRatios); ++i)
      if (has_ratio[i]) line += " " + fmt(r.over[i], 3) + " |";
    std::printf("%s\n", line.c_str());
  }
  if (!svg_path.empty()) {
    std::ofstream f(svg_path, std::ios::trunc);
    f << svg(rows);
    if (!f.flush()) return std::fprintf(stderr, "report: cannot write %s\n", svg_path.c_str()), 1;
  }
  return 0;
}
