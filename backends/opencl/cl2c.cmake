# backends/opencl/cl2c.cmake - turns kernels/NAME.cl into a C header holding
# `static const char ocl_src_NAME[]`, run at build time:
#   cmake -DIN=x.cl -DOUT=x.cl.h -DNAME=x -P cl2c.cmake
# A #line directive keeps OpenCL compiler logs pointing at the .cl file.
file(READ ${IN} s)
string(REPLACE "\\" "\\\\" s "${s}")
string(REPLACE "\"" "\\\"" s "${s}")
string(REPLACE "\n" "\\n\"\n  \"" s "${s}")
file(WRITE ${OUT} "/* generated from ${NAME}.cl by cl2c.cmake; do not edit */\nstatic const char ocl_src_${NAME}[] =\n  \"#line 1 \\\"${NAME}.cl\\\"\\n\"\n  \"${s}\";\n")
