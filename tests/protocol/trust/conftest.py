from tests.integration.trust.operators import operator_templates

__all__ = ["operator_templates"]
