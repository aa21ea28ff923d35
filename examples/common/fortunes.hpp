// The fortunes corpus shared by examples/char_transformer and its libtorch twin
// (bench/peer/peer_char_transformer): the plain files of Debian's `fortunes` package, split by
// file, a byte vocabulary, the windows each step and each validation pass reads, and the
// learning-rate schedule. Standard C++ only, so both programs read exactly the same batches.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace examples {

struct Corpus {
  std::string train, valid;
  std::vector<std::string> valid_files;
  std::vector<int64_t> vocab;  ///< byte -> id, -1 when absent
  std::string chars;           ///< id -> byte
};

// The text of one fortune file: the "%" lines between fortunes become blank lines, bytes
// outside printable ASCII (a few Latin-1 letters) become '?'.
inline std::string read_fortunes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::string out, line;
  while (std::getline(in, line)) {
    if (line == "%") line.clear();
    for (char& ch : line) {
      auto u = static_cast<unsigned char>(ch);
      if (ch != '\t' && (u < 32 || u > 126)) ch = '?';
    }
    out += line;
    out += '\n';
  }
  return out;
}

inline Corpus load_corpus(const std::string& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    // the plain files only: not the .dat indexes, not the .u8 links, not the pictures
    if (!e.is_regular_file() || name.find('.') != std::string::npos || name == "art" ||
        name == "ascii-art")
      continue;
    files.push_back(e.path());
  }
  if (ec || files.empty()) {
    std::cerr << "char_transformer: no fortune files in " << dir
              << " (apt-get install fortunes, or --data DIR)\n";
    std::exit(1);
  }
  std::sort(files.begin(), files.end());
  Corpus c;
  for (size_t i = 0; i < files.size(); ++i) {
    std::string text = read_fortunes(files[i]);
    if (i % 8 == 7) {
      c.valid += text;
      c.valid_files.push_back(files[i].filename().string());
    } else {
      c.train += text;
    }
  }
  c.vocab.assign(256, -1);
  for (const std::string* s : {&c.train, &c.valid})
    for (char ch : *s) c.vocab[static_cast<unsigned char>(ch)] = 0;
  for (int b = 0; b < 256; ++b)
    if (c.vocab[b] == 0) {
      c.vocab[b] = static_cast<int64_t>(c.chars.size());
      c.chars += static_cast<char>(b);
    }
  return c;
}

// Token ids of text[start, start + n).
inline std::vector<int64_t> encode(const Corpus& c, const std::string& text, size_t start,
                                   size_t n) {
  std::vector<int64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = c.vocab[static_cast<unsigned char>(text[start + i])];
  return ids;
}

/// The starts of one training batch: `batch` windows of context + 1 characters drawn by rng.
inline std::vector<size_t> train_starts(const Corpus& c, int64_t batch, int64_t context,
                                        std::mt19937_64& rng) {
  std::vector<size_t> starts(static_cast<size_t>(batch));
  for (size_t& s : starts) s = rng() % (c.train.size() - static_cast<size_t>(context) - 1);
  return starts;
}

/// The validation batches: consecutive windows stepping by context, at most `batches` batches.
inline std::vector<std::vector<size_t>> valid_starts(const Corpus& c, int64_t batch,
                                                     int64_t context, int64_t batches) {
  std::vector<std::vector<size_t>> out;
  size_t span = static_cast<size_t>(context) + 1, at = 0;
  for (int64_t b = 0; b < batches; ++b) {
    std::vector<size_t> starts;
    while (starts.size() < static_cast<size_t>(batch) && at + span <= c.valid.size()) {
      starts.push_back(at);
      at += static_cast<size_t>(context);
    }
    if (starts.empty()) break;
    out.push_back(std::move(starts));
  }
  return out;
}

/// The schedule's factor at step s of total: a linear warm-up over the first 10% of the steps,
/// then a half cosine down to 10% of the peak.
inline double warmup_cosine(int64_t s, int64_t total) {
  const int64_t warmup = std::max<int64_t>(1, total / 10);
  if (s < warmup) return static_cast<double>(s + 1) / static_cast<double>(warmup);
  double t =
      static_cast<double>(s - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
  return 0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * std::min(1.0, t)));
}

}  // namespace examples
