// Helpers shared by every Lattice compute shader. Include it AFTER `layout(local_size_x = ...) in;`:
// before that declaration glslang folds gl_WorkGroupSize to (1, 1, 1).

// Flat invocation index for 1-D work laid out by grid_1d() (gpu/ops/grid.h): the group count may be split
// over x and y because x alone is limited to 65535 groups on many devices.
uint lattice_flat_index() {
  return (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
}

// Row of a row-wise dispatch laid out by grid_rows() (gpu/ops/grid.h): rows along y, and z beyond 65535.
uint lattice_row_index() { return gl_WorkGroupID.z * gl_NumWorkGroups.y + gl_WorkGroupID.y; }
