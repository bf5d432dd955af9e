/*
** replay_main.c: runs fuzz_sql.c's inputs without libFuzzer, so that they can be replayed under
*valgrind
** (which cannot run alongside ASan) or by any compiler.
**
**   build/fuzz/replay tests/fuzz/corpus tests/fuzz/regressions   # every file in each directory
**   build/fuzz/replay build/fuzz/artifacts/crash-1234             # one input
**
** Exit status 0 when every input ran; the harness itself aborts on a broken promise.
*/
#define _POSIX_C_SOURCE 200809L /* opendir, readdir, stat */

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static int replay_file(const char *path) {
  FILE *file = fopen(path, "rb");
  if (file == 0) {
    fprintf(stderr, "replay: cannot open %s\n", path);
    return 1;
  }
  uint8_t *data = 0;
  size_t size = 0;
  size_t capacity = 0;
  for (;;) {
    if (size == capacity) {
      capacity = capacity ? capacity * 2 : 4096;
      uint8_t *grown = realloc(data, capacity);
      if (grown == 0) {
        free(data);
        fclose(file);
        return 1;
      }
      data = grown;
    }
    size_t got = fread(data + size, 1, capacity - size, file);
    if (got == 0) {
      break;
    }
    size += got;
  }
  fclose(file);
  LLVMFuzzerTestOneInput(data, size);
  free(data);
  return 0;
}

static int replay_path(const char *path, int *count) {
  struct stat info;
  if (stat(path, &info) != 0) {
    fprintf(stderr, "replay: no such file or directory: %s\n", path);
    return 1;
  }
  if (!S_ISDIR(info.st_mode)) {
    (*count)++;
    return replay_file(path);
  }
  DIR *directory = opendir(path);
  if (directory == 0) {
    return 1;
  }
  int failures = 0;
  struct dirent *entry;
  while ((entry = readdir(directory)) != 0) {
    if (entry->d_name[0] == '.') {
      continue;
    }
    char child[4096];
    snprintf(child, sizeof(child), "%s/%s", path, entry->d_name);
    failures += replay_path(child, count);
  }
  closedir(directory);
  return failures;
}

int main(int argc, char **argv) {
  LLVMFuzzerInitialize(&argc, &argv);
  int failures = 0;
  int count = 0;
  for (int i = 1; i < argc; i++) {
    failures += replay_path(argv[i], &count);
  }
  fprintf(stderr, "replay: %d inputs, %d unreadable\n", count, failures);
  return failures != 0;
}
