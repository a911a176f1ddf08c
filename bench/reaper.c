/* reaper: the least a supervisor can do to restart a service, as a yardstick for the
 * respawn metric of bench.py (the "reaper" suite).
 *
 * usage: reaper SCANDIR
 *
 * Runs ./run of the first service dir in SCANDIR (names starting with a dot are
 * skipped) in a new session, waits for it, and starts it again at once: vfork and
 * exec, no status file, no policy, no control. bench.py builds it with cc when a C
 * compiler is installed; the time it takes to restart a killed service is the floor a
 * real supervisor can approach, since it includes what the benchmark's bare spawn does
 * not: the kernel tearing the killed process down and waking its parent.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: reaper SCANDIR\n");
    return 100;
  }
  if (chdir(argv[1]) != 0) {
    perror("reaper: chdir");
    return 111;
  }
  DIR *d = opendir(".");
  struct dirent *e;
  while (d && (e = readdir(d)) && e->d_name[0] == '.')
    ;
  if (!d || !e || chdir(e->d_name) != 0) {
    fprintf(stderr, "reaper: no service dir in %s\n", argv[1]);
    return 111;
  }
  char *args[] = {"./run", 0};
  for (;;) {
    pid_t pid = vfork();
    if (pid == 0) {
      setsid();
      execve(args[0], args, environ);
      _exit(127);
    }
    if (pid < 0) {
      sleep(1);
      continue;
    }
    while (waitpid(pid, 0, 0) != pid && errno == EINTR)
      ;
  }
}
