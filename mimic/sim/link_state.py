"""The layout of the simulated link state: what each column of ``SimCharacter.query()`` holds.

A character's state is one row per link (= joint = body, in the character's order) of
``SIZE`` float64 columns, in the order pybullet's ``getLinkStates(computeLinkVelocity=1)``
returns them, all in the world frame.  Index a state array ``S`` [..., J, SIZE] with the named
slices below, ``S[..., JOINT_POS]``, as ``ReferenceBatch`` names the reference's rows.  They are
basic slices, so every such index is a view: nothing is copied or allocated on the hot path.
Pure numpy; the compiled kernels (mimic/envs/_imitation.c) use the same offsets.
"""

BODY_POS = slice(0, 3)  # body-centre (centre-of-mass) position
BODY_ROT = slice(3, 7)  # body rotation, xyzw
INERTIAL = slice(7, 14)  # the constant local inertial frame: position (3), rotation (4)
JOINT_POS = slice(14, 17)  # link (= joint) frame position
JOINT_ROT = slice(17, 21)  # link (= joint) frame rotation, xyzw
LIN_VEL = slice(21, 24)  # body-centre linear velocity
ANG_VEL = slice(24, 27)  # angular velocity
VELOCITY = slice(21, 27)  # LIN_VEL then ANG_VEL
SIZE = 27

BODY_ROT_W = BODY_ROT.start + 3  # the w column of the body rotation
JOINT_ROT_W = JOINT_ROT.start + 3  # the w column of the joint rotation
BODY_ROT_WXYZ = [BODY_ROT_W, BODY_ROT.start, BODY_ROT.start + 1, BODY_ROT.start + 2]
