// Files ember writes and reads: every write is atomic (a temporary name in the same directory,
// written, fsync'd, renamed over the target, the directory fsync'd), so a failed or killed
// writer leaves the previous file whole; reads name the path in every error.
//
//   write_file_atomic("net.safetensors", bytes, "save_safetensors");
//   std::string bytes = read_file("net.safetensors", "load_safetensors");
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace ember {

/// Replaces path with the concatenation of `parts`, atomically: readers and a crash see the old
/// file or the whole new one, never a part. Errors (an ember::Error naming `op`, the path and
/// the reason) leave the old file untouched and no temporary behind.
void write_file_atomic(const std::string& path, std::initializer_list<std::string_view> parts,
                       const char* op);
/// write_file_atomic with one part.
void write_file_atomic(const std::string& path, std::string_view bytes, const char* op);

/// The whole content of the regular file at path; an ember::Error naming `op` and the path when
/// it cannot be opened, is a directory or something else than a file, or a read fails.
std::string read_file(const std::string& path, const char* op);

}  // namespace ember
