"""The sections of the configuration: a partition of the run-script variables, read by the
package through the sections."""

import re

from conftest import REPO, toy_variables

from alpswyft.config import EXECUTION_VARIABLES, RunConfig, load_run_config
from alpswyft.sections import SECTIONS, Execution, Reuse


def test_every_variable_but_the_run_name_is_in_exactly_one_section():
    names = [name for section in SECTIONS.values() for name in section.names()]
    assert len(names) == len(set(names))
    assert set(RunConfig.model_fields) - set(names) == {"run_name"}
    assert EXECUTION_VARIABLES == Execution.names()


def test_a_section_holds_the_validated_values():
    config = load_run_config(toy_variables(n_sim_train="600, 300", use_old_net="1"))[0]
    assert config.simulation.n_sim_train == [600, 300]
    assert config.physics.POI_indices == [0, 1] and config.physics.model == "toy_line"
    assert config.training.reuse_net == Reuse("1") and config.training.reuse_net.latest
    assert config.simulation.reuse.off and config.simulation.reuse.path is None
    assert config.validation.credibility_levels == config.credibility_levels
    # a copy with other values has sections of its own
    copy = config.model_copy(update={"nbins": 20})
    assert copy.physics.nbins == 20 and config.physics.nbins == 50


def test_the_package_reads_the_variables_through_the_sections():
    """Outside the configuration itself and the physics (which takes any object with the
    variables it needs), no module reads ``config.<variable>``."""
    flat = re.compile(
        r"(?<![\w])config\.(" + "|".join(n for s in SECTIONS.values() for n in s.names()) + r")\b"
    )
    package = REPO / "analysis_scripts" / "alpswyft"
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in package.rglob("*.py")
        if path.name != "config.py" and "physics" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if flat.search(line)
    ]
    assert not found, "read these through config.<section>:\n" + "\n".join(found)
