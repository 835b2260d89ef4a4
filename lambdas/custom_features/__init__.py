"""Your own feature functions, shipped inside the Lambda asset.

Add a module here, redeploy (``npx cdk deploy``), and name its functions in the ``features`` setting as
``"custom_features.<module>:<function>"``. Either a plain function of one series (a float64 numpy array
in time order) taking its parameters as keyword arguments and returning a number or a list of
``(name, value)`` pairs, or a vectorized calculator registered with the decorators of
:mod:`featurize_lambda.core.registry` (``simple``, ``parametrized``, ``combiner``), whose parameters are
declared and checked before a run starts. Columns are named like tsfresh's:
``<kind>__<function>[__<param>_<value>...][__<name>]``. See :mod:`custom_features.example`.
"""
