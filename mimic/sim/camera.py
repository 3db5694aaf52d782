"""Every rendering pybullet call of mimic: headless camera images, the GUI camera, keys and text.

Headless images come from pybullet's TinyRenderer (``getCameraImage(renderer=ER_TINY_RENDERER)``),
a CPU rasteriser that works in DIRECT mode without a display or GPU. Two things make it usable:

* **Floor.** TinyRenderer's cost is per covered pixel and texture lookup; the world's
  textured 200 m ``plane100`` ground costs ~0.1 s per 640x480 frame. For camera images it is hidden
  (visual only: alpha 0, collisions untouched) and replaced by a visual-only, untextured checker
  mesh (1 m tiles, 40 m across) that follows the camera target in whole 2 m steps, so the
  pattern stays fixed to the ground (far fewer textured pixels; bench/render_speed.py).
* **Translucent ghost.** TinyRenderer ignores alpha, so the reference ghost lives in a world of its
  own (:class:`GhostWorld`); it is rendered with the same camera and blended over the scene where
  its depth is in front (alpha blending by depth test).

The sky (pixels no body covers, segmentation -1) is painted with a vertical gradient.

GUI helpers (:func:`gui_follow`, :func:`gui_screenshot`, :func:`gui_keys`, :class:`GuiText`)
drive the pybullet debug visualizer of a ``World(gui=True)``; in the GUI the ghost is simply a
translucent body in the same world (the OpenGL renderer blends alpha itself).

The world is y-up (gravity -y): cameras use ``upAxisIndex=1``.
"""

from __future__ import annotations

import math
import weakref

import numpy as np
import pybullet as pb

from mimic.sim.world import World, quiet_stdout

SKY_TOP = np.array([150, 185, 225], np.float32)
SKY_HORIZON = np.array([225, 235, 245], np.float32)
FLOOR_COLORS = ((0.82, 0.82, 0.80, 1.0), (0.60, 0.62, 0.64, 1.0))
FLOOR_HALF = 20  # floor half size (m), whole tiles
FLOOR_SNAP = 2.0  # the floor moves in steps of two tiles: the checker pattern stays put
LIGHT_DIRECTION = (0.4, 1.0, 0.6)


class FollowCamera:
    """A camera looking at a target that follows the character.

    yaw / pitch in degrees as pybullet's ``computeViewMatrixFromYawPitchRoll`` with the y axis up
    (yaw 0 looks along -z: a character walking along +x is seen from its side, moving right),
    distance in metres, vertical field of view ``fov`` in degrees. ``follow(pos, dt)`` moves the
    target towards ``pos`` with time constant ``smoothing`` seconds (``dt=None`` snaps); the
    target height is ``height`` if given, else the smoothed root height.
    """

    def __init__(
        self,
        distance: float = 4.0,
        yaw: float = 0.0,
        pitch: float = -12.0,
        fov: float = 45.0,
        height: float | None = None,
        smoothing: float = 0.15,
    ):
        self.distance = float(distance)
        self.yaw = float(yaw)
        self.pitch = float(pitch)
        self.fov = float(fov)
        self.height = height
        self.smoothing = float(smoothing)
        self.target = None

    def follow(self, pos, dt: float | None = None) -> np.ndarray:
        pos = np.asarray(pos, np.float64).copy()
        if self.height is not None:
            pos[1] = self.height
        if self.target is None or dt is None or self.smoothing <= 0:
            self.target = pos
        else:
            a = 1.0 - math.exp(-float(dt) / self.smoothing)
            self.target = self.target + a * (pos - self.target)
        return self.target

    def view_matrix(self):
        target = [0.0, 1.0, 0.0] if self.target is None else self.target.tolist()
        return pb.computeViewMatrixFromYawPitchRoll(target, self.distance, self.yaw, self.pitch, 0.0, 1)

    def projection_matrix(self, width: int, height: int):
        return pb.computeProjectionMatrixFOV(self.fov, width / height, 0.05, 100.0)

    def right(self) -> np.ndarray:
        """The horizontal direction that points right on screen (unit vector, world frame)."""
        return camera_right(self.view_matrix())


def camera_right(view_matrix) -> np.ndarray:
    """Screen-right direction of a (column-major OpenGL) view matrix, projected on the ground."""
    m = view_matrix
    r = np.array([m[0], 0.0, m[8]])
    n = np.linalg.norm(r)
    return r / n if n > 1e-9 else np.array([1.0, 0.0, 0.0])


def body_position(world: World, body: int) -> np.ndarray:
    """Base (root link) position of a body."""
    return np.array(pb.getBasePositionAndOrientation(body, physicsClientId=world.client)[0])


def mirror_pose(src, dst):
    """Pose ``dst`` (a display SimCharacter, any world) exactly as ``src`` (a SimCharacter of the
    same character, usually in another world): base pose and every actuated joint position."""
    cs, cd = src.client, dst.client
    pos, orn = pb.getBasePositionAndOrientation(src.body, physicsClientId=cs)
    pb.resetBasePositionAndOrientation(dst.body, pos, orn, physicsClientId=cd)
    states = pb.getJointStatesMultiDof(src.body, src.actuated, physicsClientId=cs)
    pb.resetJointStatesMultiDof(dst.body, dst.actuated, [s[0] for s in states], physicsClientId=cd)


def set_body_color(world: World, body: int, rgba, num_links: int):
    for j in range(-1, num_links):
        pb.changeVisualShape(body, j, rgbaColor=list(rgba), physicsClientId=world.client)


# ---------------------------------------------------------------------------------- headless
def _checker_mesh(half: int, parity: int):
    verts, idx = [], []
    for i in range(-half, half):
        for j in range(-half, half):
            if (i + j) % 2 != parity:
                continue
            k = len(verts)
            verts += [[i, 0.0, j], [i + 1, 0.0, j], [i + 1, 0.0, j + 1], [i, 0.0, j + 1]]
            idx += [k, k + 2, k + 1, k, k + 3, k + 2]  # counter-clockwise seen from above (+y)
    return verts, idx


class SceneRenderer:
    """TinyRenderer images of one (DIRECT) World, with the cheap floor and a painted sky.

    Creating it hides the world's ground visual (collisions unchanged) and adds a visual-only
    floor body; use one renderer per world (:func:`scene_renderer` caches them).
    """

    def __init__(self, world: World, floor: bool = True, shadows: bool = False):
        self._world = weakref.ref(world)  # cached per world: must not keep it alive
        self.shadows = bool(shadows)
        cid = world.client
        self.floor = []
        if floor:
            ground = getattr(world, "ground", None)
            if ground is not None:
                pb.changeVisualShape(ground, -1, rgbaColor=[1, 1, 1, 0], physicsClientId=cid)
            for parity, rgba in enumerate(FLOOR_COLORS):
                verts, idx = _checker_mesh(FLOOR_HALF, parity)
                vs = pb.createVisualShape(
                    pb.GEOM_MESH,
                    vertices=verts,
                    indices=idx,
                    normals=[[0.0, 1.0, 0.0]] * len(verts),
                    rgbaColor=list(rgba),
                    physicsClientId=cid,
                )
                body = pb.createMultiBody(
                    baseMass=0,
                    baseCollisionShapeIndex=-1,
                    baseVisualShapeIndex=vs,
                    basePosition=[0, 0, 0],
                    physicsClientId=cid,
                )
                pb.changeVisualShape(body, -1, rgbaColor=list(rgba), physicsClientId=cid)
                self.floor.append(body)
        self._floor_at = None
        self._sky = {}

    @property
    def world(self) -> World:
        return self._world()

    def place_floor(self, target):
        x = round(float(target[0]) / FLOOR_SNAP) * FLOOR_SNAP
        z = round(float(target[2]) / FLOOR_SNAP) * FLOOR_SNAP
        if self._floor_at != (x, z):
            for b in self.floor:
                pb.resetBasePositionAndOrientation(b, [x, 0.0, z], [0, 0, 0, 1], physicsClientId=self.world.client)
            self._floor_at = (x, z)

    def sky(self, width: int, height: int) -> np.ndarray:
        key = (width, height)
        if key not in self._sky:
            t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
            col = SKY_TOP * (1 - t) + SKY_HORIZON * t
            self._sky[key] = np.broadcast_to(col[:, None, :], (height, width, 3)).astype(np.uint8)
        return self._sky[key]

    def capture(
        self, camera: FollowCamera, width: int, height: int, world: World | None = None, shadows: bool | None = None
    ):
        """(rgb uint8 [H, W, 3], depth [H, W], segmentation [H, W]) of ``world`` (default: ours)."""
        world = world or self.world
        shadows = self.shadows if shadows is None else shadows
        _, _, rgba, depth, seg = pb.getCameraImage(
            width,
            height,
            camera.view_matrix(),
            camera.projection_matrix(width, height),
            shadow=int(shadows),
            lightDirection=list(LIGHT_DIRECTION),
            renderer=pb.ER_TINY_RENDERER,
            physicsClientId=world.client,
        )
        rgba = np.asarray(rgba, np.uint8).reshape(height, width, 4)
        depth = np.asarray(depth, np.float32).reshape(height, width)
        seg = np.asarray(seg, np.int32).reshape(height, width)
        return rgba[..., :3], depth, seg

    def render(
        self, camera: FollowCamera, width: int, height: int, ghost=None, ghost_alpha: float = 0.45
    ) -> np.ndarray:
        """An RGB frame [H, W, 3] uint8; ``ghost`` (a :class:`GhostWorld`) is blended in."""
        if camera.target is not None:
            self.place_floor(camera.target)
        rgb, depth, seg = self.capture(camera, width, height)
        out = np.where((seg < 0)[..., None], self.sky(width, height), rgb)
        if ghost is not None and ghost.visible:
            g_rgb, g_depth, g_seg = self.capture(camera, width, height, world=ghost.world, shadows=False)
            front = (g_seg >= 0) & ((g_depth < depth) | (seg < 0))
            if front.any():
                a = float(ghost_alpha)
                out = out.copy() if not out.flags.writeable else out
                out[front] = (out[front] * (1.0 - a) + g_rgb[front] * a + 0.5).astype(np.uint8)
        return np.ascontiguousarray(out)


class GhostWorld:
    """A display-only world holding the reference ghost for headless rendering.

    ``character`` is a mimic.kinematics Character; the ghost is a ``SimCharacter(ghost=True)`` in a
    separate DIRECT World whose ground is invisible, so its image can be blended over the scene.
    """

    def __init__(self, character, rgba=(1.0, 0.55, 0.15, 1.0)):
        from mimic.sim.character import SimCharacter

        with quiet_stdout():
            self.world = World()
        pb.changeVisualShape(self.world.ground, -1, rgbaColor=[1, 1, 1, 0], physicsClientId=self.world.client)
        self.character = SimCharacter(self.world, character, ghost=True, rgba=rgba)
        self.visible = True

    def set_state(self, root_pos, root_rot, local_rot, hinge):
        self.character.set_state(root_pos, root_rot, local_rot, hinge)

    def close(self):
        self.world.close()


_RENDERERS: "weakref.WeakKeyDictionary[World, SceneRenderer]" = weakref.WeakKeyDictionary()


def scene_renderer(world: World) -> SceneRenderer:
    """The (cached) SceneRenderer of a world."""
    r = _RENDERERS.get(world)
    if r is None:
        r = _RENDERERS[world] = SceneRenderer(world)
    return r


def render_rgb(
    world: World, sim, width: int = 640, height: int = 480, camera: FollowCamera | None = None
) -> np.ndarray:
    """One RGB frame [height, width, 3] uint8 of ``world`` from a camera looking at the simulated
    character ``sim`` (a SimCharacter) from the side -- what ``ImitationEnv.render()`` returns."""
    if camera is None:
        camera = FollowCamera()
        camera.follow(body_position(world, sim.body))
    return scene_renderer(world).render(camera, int(width), int(height))


# ---------------------------------------------------------------------------------- GUI
GUI_ERRORS = (pb.error,)


def gui_connected(world: World) -> bool:
    try:
        return world.client is not None and bool(pb.isConnected(physicsClientId=world.client))
    except pb.error:
        return False


def gui_setup(world: World, shadows: bool = True):
    cid = world.client
    pb.configureDebugVisualizer(pb.COV_ENABLE_GUI, 0, physicsClientId=cid)
    pb.configureDebugVisualizer(pb.COV_ENABLE_SHADOWS, int(shadows), physicsClientId=cid)
    pb.configureDebugVisualizer(pb.COV_ENABLE_KEYBOARD_SHORTCUTS, 0, physicsClientId=cid)


_GUI_CAMERAS: "weakref.WeakKeyDictionary[World, dict]" = weakref.WeakKeyDictionary()


def gui_rendering(world: World, on: bool):
    """Pause / resume drawing the window: loading bodies with drawing paused is many times
    faster (each change otherwise waits for a redraw)."""
    pb.configureDebugVisualizer(pb.COV_ENABLE_RENDERING, int(on), physicsClientId=world.client)


def gui_camera(world: World) -> dict:
    """The GUI camera as the user left it: yaw, pitch, distance, target, view / projection.

    pybullet only reports the window camera when the GUI is the process's first connection;
    otherwise the last camera set through :func:`gui_follow` is returned (mouse changes are then
    not seen)."""
    c = pb.getDebugVisualizerCamera(physicsClientId=world.client)
    if c[0] > 0:
        return dict(
            width=c[0],
            height=c[1],
            view=c[2],
            projection=c[3],
            yaw=c[8],
            pitch=c[9],
            distance=c[10],
            target=np.array(c[11]),
        )
    last = _GUI_CAMERAS.get(world) or dict(yaw=50.0, pitch=-35.0, distance=5.0, target=np.zeros(3))
    view = pb.computeViewMatrixFromYawPitchRoll(
        list(last["target"]), last["distance"], last["yaw"], last["pitch"], 0.0, 1
    )
    return dict(
        width=1024,
        height=768,
        view=view,
        projection=pb.computeProjectionMatrixFOV(60.0, 1024 / 768, 0.05, 100.0),
        **last,
    )


def gui_follow(world: World, target, yaw=None, pitch=None, distance=None):
    """Point the GUI camera at ``target``, keeping the user's yaw / pitch / zoom unless given."""
    c = gui_camera(world)
    cam = dict(
        distance=float(c["distance"] if distance is None else distance),
        yaw=float(c["yaw"] if yaw is None else yaw),
        pitch=float(c["pitch"] if pitch is None else pitch),
        target=np.array([float(v) for v in target]),
    )
    _GUI_CAMERAS[world] = cam
    pb.resetDebugVisualizerCamera(
        cameraDistance=cam["distance"],
        cameraYaw=cam["yaw"],
        cameraPitch=cam["pitch"],
        cameraTargetPosition=cam["target"].tolist(),
        physicsClientId=world.client,
    )


def gui_screenshot(world: World, width: int | None = None, height: int | None = None, segmentation: bool = False):
    """RGB [H, W, 3] uint8 of what the GUI camera sees (the GUI's OpenGL renderer); with
    ``segmentation`` also the body-id mask [H, W] (-1: background)."""
    c = gui_camera(world)
    w, h = int(width or c["width"]), int(height or c["height"])
    proj = c["projection"]
    if w * c["height"] != h * c["width"]:
        proj = pb.computeProjectionMatrixFOV(60.0, w / h, 0.05, 100.0)
    _, _, rgba, _, seg = pb.getCameraImage(
        w, h, c["view"], proj, renderer=pb.ER_BULLET_HARDWARE_OPENGL, physicsClientId=world.client
    )
    rgb = np.asarray(rgba, np.uint8).reshape(h, w, 4)[..., :3].copy()
    if segmentation:
        seg = np.asarray(seg, np.int64).reshape(h, w)
        return rgb, np.where(seg >= 0, seg & ((1 << 24) - 1), -1)
    return rgb


KEY_NAMES = {
    pb.B3G_SPACE: "space",
    pb.B3G_RIGHT_ARROW: "right",
    pb.B3G_LEFT_ARROW: "left",
    pb.B3G_UP_ARROW: "up",
    pb.B3G_DOWN_ARROW: "down",
    pb.B3G_RETURN: "enter",
    27: "escape",
}


def gui_keys(world: World) -> list:
    """Keys pressed since the last call (names: 'space', 'right', ... or the character)."""
    try:
        events = pb.getKeyboardEvents(physicsClientId=world.client)
    except pb.error:
        return []
    keys = []
    for k, state in events.items():
        if state & pb.KEY_WAS_TRIGGERED:
            keys.append(KEY_NAMES.get(k, chr(k) if 32 <= k < 127 else str(k)))
    return keys


class GuiText:
    """One line of overlay text in the GUI, kept above a moving point."""

    def __init__(self, world: World, color=(0.1, 0.1, 0.1), size: float = 1.3):
        self.world = world
        self.color = list(color)
        self.size = float(size)
        self.item = -1

    def show(self, text: str, position):
        kw = dict(textColorRGB=self.color, textSize=self.size, physicsClientId=self.world.client)
        if self.item >= 0:
            kw["replaceItemUniqueId"] = self.item
        self.item = pb.addUserDebugText(text, [float(v) for v in position], **kw)
