from tests.support import World


def test_world_registers_parties(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    assert world.store.size() == 2
