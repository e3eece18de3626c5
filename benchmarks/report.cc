// report: assembles the per-benchmark entries (<dir>/B*.json, written by the suite binaries
// through harness.h) into latest.json, prints the markdown summary, and draws the ratio chart
// as SVG. The entries are our own one-line objects whose headline members come first, so a
// first-occurrence key lookup reads them; nothing else is parsed.
//
//   report --dir benchmarks/results [--svg PATH]
#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "benchmarks/harness.h"

namespace {
using namespace netpoll::bench;

struct Row {
  std::string json, id, name, unit;
  bool higher = true;
  double raw = -1, np = -1, uv = -1, over_uv = -1, over_raw = -1;
};

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
  const int bar_h = 14, gap = 10, left = 300, width = 420, top = 40;
  const int h = top + static_cast<int>(rows.size()) * (2 * bar_h + gap) + 40;
  double maxv = 2.0;
  for (const Row& r : rows) maxv = std::max({maxv, advantage(r, r.over_uv), advantage(r, r.over_raw)});
  maxv = std::min(maxv, 4.0);
  auto x = [&](double v) { return left + static_cast<int>(std::min(v, maxv) / maxv * width); };
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << left + width + 80 << "\" height=\"" << h
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<text x=\"10\" y=\"20\" font-size=\"14\">netpoll advantage per benchmark (&gt; 1: netpoll better; "
       "time metrics inverted)</text>\n"
    << "<rect x=\"" << left << "\" y=\"26\" width=\"12\" height=\"10\" fill=\"#3b7dd8\"/><text x=\"" << left + 16
    << "\" y=\"35\">vs libuv</text><rect x=\"" << left + 90 << "\" y=\"26\" width=\"12\" height=\"10\" "
    << "fill=\"#e08a2c\"/><text x=\"" << left + 106 << "\" y=\"35\">vs raw epoll</text>\n";
  int y = top;
  for (const Row& r : rows) {
    std::string label = r.id + " " + r.name;
    if (label.size() > 46) label = label.substr(0, 45) + "...";
    o << "<text x=\"10\" y=\"" << y + bar_h + 4 << "\">" << label << "</text>\n";
    const double a = advantage(r, r.over_uv), b = advantage(r, r.over_raw);
    if (a > 0)
      o << "<rect x=\"" << left << "\" y=\"" << y << "\" width=\"" << x(a) - left << "\" height=\"" << bar_h
        << "\" fill=\"#3b7dd8\"/><text x=\"" << x(a) + 4 << "\" y=\"" << y + 11 << "\">" << fmt(a, 2) << "</text>\n";
    if (b > 0)
      o << "<rect x=\"" << left << "\" y=\"" << y + bar_h << "\" width=\"" << x(b) - left << "\" height=\"" << bar_h
        << "\" fill=\"#e08a2c\"/><text x=\"" << x(b) + 4 << "\" y=\"" << y + bar_h + 11 << "\">" << fmt(b, 2)
        << "</text>\n";
    y += 2 * bar_h + gap;
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
      r.raw = num(r.json, "raw");
      r.np = num(r.json, "netpoll");
      r.uv = num(r.json, "libuv");
      r.over_uv = num(r.json, "netpoll_over_libuv");
      r.over_raw = num(r.json, "netpoll_over_raw");
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

  std::printf("| id | benchmark | unit | raw | netpoll | libuv | netpoll/raw | netpoll/libuv |\n");
  std::printf("|---|---|---|---:|---:|---:|---:|---:|\n");
  for (const Row& r : rows) {
    const int prec = std::max({r.raw, r.np, r.uv}) >= 100 ? 0 : 2;
    std::printf("| %s | %s | %s%s | %s | %s | %s | %s | %s |\n", r.id.c_str(), r.name.c_str(), r.unit.c_str(),
                r.higher ? "" : " (lower is better)", fmt(r.raw, prec).c_str(), fmt(r.np, prec).c_str(),
                fmt(r.uv, prec).c_str(), fmt(r.over_raw, 3).c_str(), fmt(r.over_uv, 3).c_str());
  }
  if (!svg_path.empty()) {
    std::ofstream f(svg_path, std::ios::trunc);
    f << svg(rows);
    if (!f.flush()) return std::fprintf(stderr, "report: cannot write %s\n", svg_path.c_str()), 1;
  }
  return 0;
}
