#include <stdio.h>
#include <string.h>

#include "gmcnn/gmcnn.h"

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("%s\n", gm_build_info());
        return 0;
    }
    return 0;
}
