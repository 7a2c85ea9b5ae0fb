"""Entry point: load the typed stack config, build the components, export what people need."""

import pulumi

from components import config

settings = config.load()
pulumi.export("environment", settings.sections.environment.name.value)
